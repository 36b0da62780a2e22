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
/// <para>Release: tensors are GC-managed, so a <see cref="CudaStorage"/>'s finalizer hands its block back through a
/// lock-free queue (no CUDA call on the finalizer thread). That queue is drained only at a collection the arena forces
/// itself, never after one the GC chose to run, so whether a step calls cuMemAlloc does not depend on the GC's timing:
/// the tape calls <see cref="ReclaimUnreachable"/> after each backward pass, once the graph is freed, so every dead
/// activation of the step is back in the free lists before the next step starts; and when a bucket is empty and at
/// least <see cref="CollectAfterRents"/> blocks were rented since the last collection (gradients that died during the
/// backward pass), the arena forces one more before it calls cuMemAlloc. Reuse is safe without events: every
/// kernel runs on the one stream, so work queued on a dead buffer finishes before the next user's work starts.</para>
/// <para>Exact mode (the default under the emulator): every block is its own cuMemAlloc of exactly the requested size and
/// is reused only for that size, so the emulator's guard page right after each allocation catches any kernel that
/// writes or reads past the end of a tensor.</para>
/// </summary>
public sealed class DeviceArena : IDisposable
{
    public const long MinBlock = 512;
    public const long SmallLimit = 1 << 20;
    public const long ChunkBytes = 8 << 20;
    public const int CollectAfterRents = 32;

    private readonly CudaDevice _device;
    private readonly Dictionary<long, Stack<ulong>> _free = [];
    private readonly ConcurrentQueue<(ulong Pointer, long Bucket)> _returned = new();
    private readonly List<(ulong Pointer, long Bytes)> _deviceBlocks = [];
    private ulong _chunk;
    private long _chunkUsed = ChunkBytes;
    private int _rentsSinceCollect;
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

    /// <summary>Number of forced garbage collections (each returned dead tensors' blocks).</summary>
    public long Collections { get; private set; }

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
        _rentsSinceCollect++;
        if (TryPop(bucket, out ulong pointer)) return (pointer, bucket);
        if (_rentsSinceCollect >= CollectAfterRents)
        {
            CollectDead();
            if (TryPop(bucket, out pointer)) return (pointer, bucket);
        }
        return (Carve(bucket, bytes, describe), bucket);
    }

    /// <summary>Called by a dead storage's finalizer (any thread): queues the block for reuse.</summary>
    public void Return(ulong pointer, long bucket)
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

    private void DrainReturned()
    {
        while (_returned.TryDequeue(out var block))
        {
            if (!_free.TryGetValue(block.Bucket, out var stack)) _free[block.Bucket] = stack = new Stack<ulong>();
            stack.Push(block.Pointer);
        }
    }

    /// <summary>Forces a full collection and takes back the blocks of every storage it finalised.</summary>
    public void ReclaimUnreachable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CollectDead();
    }

    private void CollectDead()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        _rentsSinceCollect = 0;
        Collections++;
        DrainReturned();
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
            CollectDead();
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
