using System.Collections.Concurrent;
using MedClip.Backends.Cuda.Native;
using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

/// <summary>
/// The device memory arena: a caching allocator with size-bucketed free lists, so a training step in steady state makes
/// no cuMemAlloc call.
/// <para>Buckets: requests up to 1 MiB round up to a power of two (at least 512 bytes) and are carved from 8 MiB chunks;
/// larger ones round up to a whole MiB and get their own cuMemAlloc. A block never changes bucket and is never freed
/// back to the driver while the arena lives (except to retry an allocation that ran out of memory).</para>
/// <para>Release: a training step runs in a <see cref="Scope"/> (<see cref="IBackend.OpenScope"/>); every storage
/// allocated on the scope's thread while it is the innermost open one is released when it is disposed, so the step's
/// activations and gradients are back in the free lists before the next step starts, whatever the garbage collector
/// does. A released storage fails in any later op. Storage allocated outside every scope (parameters, optimizer state,
/// BF16 weight copies, inference) is returned by its finalizer through a lock-free queue (no CUDA call on the finalizer
/// thread), drained when a bucket is empty; its bytes count as memory pressure so the collector schedules itself.
/// Reuse is safe without events: every kernel runs on the one stream, so work queued on a released buffer finishes
/// before the next user's work starts.</para>
/// <para>Exact mode (the default under the emulator): every block is its own cuMemAlloc of exactly the requested size and
/// is reused only for that size, so the emulator's guard page right after each allocation catches any kernel that
/// writes or reads past the end of a tensor.</para>
/// </summary>
public sealed class DeviceArena : IDisposable
{
    public const long MinBlock = 512;
    public const long SmallLimit = 1 << 20;
    public const long ChunkBytes = 8 << 20;

    private readonly CudaDevice _device;
    private readonly Dictionary<long, Stack<ulong>> _free = [];
    private readonly ConcurrentQueue<(ulong Pointer, long Bucket)> _returned = new();
    private readonly List<(ulong Pointer, long Bytes)> _deviceBlocks = [];
    private ulong _chunk;
    private long _chunkUsed = ChunkBytes;
    private readonly ScopeStack<Scope> _scopes = new();
    private volatile bool _disposed;

    public DeviceArena(CudaDevice device, bool exact)
    {
        _device = device;
        Exact = exact;
    }

    /// <summary>One allocation of exactly the requested size per block (see the class summary).</summary>
    public bool Exact { get; }

    /// <summary>Number of cuMemAlloc calls so far (the steady-state test counts these).</summary>
    public long DeviceAllocations { get; private set; }

    /// <summary>Bytes obtained from the driver and held by the arena.</summary>
    public long ReservedBytes { get; private set; }

    /// <summary>Blocks rented and not yet released or finalised.</summary>
    public long LiveBlocks { get; private set; }

    public static long BucketOf(long bytes)
    {
        if (bytes <= MinBlock) return MinBlock;
        if (bytes <= SmallLimit) return (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)bytes);
        return (bytes + SmallLimit - 1) / SmallLimit * SmallLimit;
    }

    /// <summary>A block of at least <paramref name="bytes"/>; <paramref name="describe"/> names the tensor for an out-of-memory error.</summary>
    public (ulong Pointer, long Bucket) Rent(long bytes, Func<string> describe)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long bucket = Exact ? bytes : BucketOf(bytes);
        LiveBlocks++;
        if (TryPop(bucket, out ulong pointer)) return (pointer, bucket);
        DrainFinalized();
        if (TryPop(bucket, out pointer)) return (pointer, bucket);
        return (Carve(bucket, bytes, describe), bucket);
    }

    /// <summary>
    /// Opens a scope on the calling thread: storage allocated on it until the scope is disposed (and no inner scope is
    /// open) is released at disposal. Scopes close in the reverse order of opening.
    /// </summary>
    public Scope OpenScope()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var scope = new Scope(this);
        lock (_scopes) _scopes.Open(scope);
        return scope;
    }

    /// <summary>Hands a new storage to the innermost scope open on this thread; false when none is (the finalizer returns it).</summary>
    internal bool Track(CudaStorage storage)
    {
        lock (_scopes)
        {
            if (_scopes.Innermost() is not { } scope) return false;
            scope.Owned.Add(storage);
            return true;
        }
    }

    /// <summary>Takes a released block back at once (the owning thread, at a scope's end).</summary>
    internal void Release(ulong pointer, long bucket)
    {
        if (_disposed) return;
        LiveBlocks--;
        Push(pointer, bucket);
    }

    /// <summary>Called by an unscoped storage's finalizer (any thread): queues the block for reuse.</summary>
    internal void ReturnFinalized(ulong pointer, long bucket)
    {
        if (!_disposed) _returned.Enqueue((pointer, bucket));
    }

    private bool TryPop(long bucket, out ulong pointer)
    {
        if (_free.TryGetValue(bucket, out var stack) && stack.Count > 0)
        {
            pointer = stack.Pop();
            return true;
        }
        pointer = 0;
        return false;
    }

    private void Push(ulong pointer, long bucket)
    {
        if (!_free.TryGetValue(bucket, out var stack)) _free[bucket] = stack = new Stack<ulong>();
        stack.Push(pointer);
    }

    private void DrainFinalized()
    {
        while (_returned.TryDequeue(out var block))
        {
            LiveBlocks--;
            Push(block.Pointer, block.Bucket);
        }
    }

    private ulong Carve(long bucket, long requested, Func<string> describe)
    {
        if (Exact || bucket > SmallLimit) return DeviceAlloc(bucket, requested, describe);
        if (_chunkUsed + bucket > ChunkBytes)
        {
            _chunk = DeviceAlloc(ChunkBytes, requested, describe);
            _chunkUsed = 0;
        }
        ulong pointer = _chunk + (ulong)_chunkUsed;
        _chunkUsed += bucket;
        return pointer;
    }

    private ulong DeviceAlloc(long bytes, long requested, Func<string> describe)
    {
        _device.MakeCurrent();
        int result = cuMemAlloc_v2(out ulong pointer, (nuint)bytes);
        if (result == CUDA_ERROR_OUT_OF_MEMORY)
        {
            // Give the driver back everything cached that is not a chunk, then try once more.
            DrainFinalized();
            ReleaseCachedLargeBlocks();
            result = cuMemAlloc_v2(out pointer, (nuint)bytes);
            if (result == CUDA_ERROR_OUT_OF_MEMORY)
            {
                var (free, total) = _device.MemoryInfo();
                throw new CudaOutOfMemoryException(
                    $"Out of GPU memory allocating {describe()} ({Mib(requested)}): {Mib(free)} free of {Mib(total)} on {_device.Name}, " +
                    $"{Mib(ReservedBytes)} held by MedClip; try a smaller --batch-size.");
            }
        }
        Check(result, "cuMemAlloc_v2");
        DeviceAllocations++;
        ReservedBytes += bytes;
        _deviceBlocks.Add((pointer, bytes));
        return pointer;
    }

    private void ReleaseCachedLargeBlocks()
    {
        foreach (var (bucket, stack) in _free.Where(f => Exact || f.Key > SmallLimit))
        {
            while (stack.Count > 0)
            {
                ulong pointer = stack.Pop();
                Check(cuMemFree_v2(pointer), "cuMemFree_v2");
                _deviceBlocks.RemoveAll(b => b.Pointer == pointer);
                ReservedBytes -= bucket;
            }
        }
    }

    /// <summary>The storage of one step (or one batch): released together, in one pass, when disposed.</summary>
    public sealed class Scope : IDisposable
    {
        private readonly DeviceArena _arena;
        private bool _closed;

        internal Scope(DeviceArena arena) => _arena = arena;

        internal List<CudaStorage> Owned { get; } = [];

        public void Dispose()
        {
            if (_closed) return;
            _closed = true;
            lock (_arena._scopes) _arena._scopes.Close(this, "device memory");
            foreach (var storage in Owned) storage.Release();
            Owned.Clear();
        }
    }

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";

    /// <summary>Frees every block (tensors of this backend must not be used afterwards).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _device.MakeCurrent();
        _device.Synchronize();
        foreach (var (pointer, _) in _deviceBlocks) cuMemFree_v2(pointer);
        _deviceBlocks.Clear();
        _free.Clear();
        ReservedBytes = 0;
    }
}
