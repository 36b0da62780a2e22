using System.Runtime.CompilerServices;
using MedClip.Backends.Cuda.Native;
using MedClip.Tensors;
using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

/// <summary>Construction options of a <see cref="CudaBackend"/>.</summary>
/// <param name="Device">GPU ordinal.</param>
/// <param name="AllowTf32">F32 GEMMs on TF32 tensor cores (faster, about 1e-3 relative error) instead of FP32.</param>
/// <param name="CacheDirectory">Kernel CUBIN cache; null takes MEDCLIP_CACHE or the user's cache folder.</param>
/// <param name="ExactAllocations">Arena blocks of exactly the requested size (null: on under the emulator, to expose overruns).</param>
public sealed record CudaBackendOptions(int Device = 0, bool AllowTf32 = false, string? CacheDirectory = null, bool? ExactAllocations = null);

/// <summary>
/// The CUDA backend: every op of <see cref="IBackend"/> as a hand-written kernel (kernels/*.cu, compiled by NVRTC once
/// per architecture and cached on disk) or a cuBLAS GEMM, all queued on one stream of the device's primary context.
/// Device memory comes from a <see cref="DeviceArena"/>. Ops run asynchronously; copies to the host synchronise and
/// then report errors that kernels flagged on the device (an embedding id or a target outside its range).
/// F32 and F64 everywhere; BF16 for storage, casts, GEMM inputs (FP32 accumulation) and the weight copies AdamW writes.
/// </summary>
public sealed partial class CudaBackend : IBackend, IDisposable
{
    private const int ErrorWordLength = 4;
    private readonly CudaDevice _device;
    private readonly DeviceArena _arena;
    private readonly KernelModules _modules;
    private readonly CudaStorage _errorWord;
    private bool _errorWordArmed;
    private bool _disposed;

    public CudaBackend(CudaBackendOptions? options = null)
    {
        options ??= new CudaBackendOptions();
        _device = CudaDevice.Open(options.Device);
        _arena = new DeviceArena(_device, options.ExactAllocations ?? _device.IsEmulator);
        var compiler = new KernelCompiler(_device.Architecture, _device.Name, options.CacheDirectory ?? KernelCompiler.DefaultCacheDirectory());
        _modules = new KernelModules(_device, compiler);
        _cublas = CreateCublas(options.AllowTf32);
        _errorWord = NewStorage(DType.I32, ErrorWordLength, scoped: false);
        TensorCoreAttention = _device.ComputeMajor >= 8; // mma.sync with BF16 operands
    }

    public string Name => "cuda";
    public CudaDevice Device => _device;
    public DeviceArena Arena => _arena;
    public KernelCompiler Compiler => _modules.Compiler;

    // ---- memory ------------------------------------------------------------------------------------------------------

    public IDisposable OpenScope() => _arena.OpenScope();

    public Storage Allocate(DType dtype, long length) => NewStorage(dtype, length, scoped: true);

    // scoped: false for the backend's own buffers that live across steps (the error word, the AdamW table).
    private CudaStorage NewStorage(DType dtype, long length, bool scoped)
    {
        _device.MakeCurrent();
        if (length == 0) return new CudaStorage(this, dtype, 0, 0, null, 0, scoped);
        long bytes = length * dtype.SizeInBytes();
        var (pointer, bucket) = _arena.Rent(bytes, () => $"a {dtype} tensor of {length:N0} elements");
        Check(cuMemsetD8Async(pointer, 0, (nuint)bytes, _device.Stream), "cuMemsetD8Async");
        return new CudaStorage(this, dtype, length, pointer, _arena, bucket, scoped);
    }

    public unsafe void CopyFromHost<T>(ReadOnlySpan<T> source, Storage destination) where T : unmanaged
    {
        var d = DeviceStorage(destination, typeof(T));
        if (source.Length > d.Length)
            throw new ArgumentException($"CopyFromHost: {source.Length} elements do not fit a {d.DType} storage of {d.Length}.");
        if (source.IsEmpty) return;
        _device.MakeCurrent();
        // No wait: from pageable memory the driver has staged the data when the call returns, and the copy is ordered on
        // the stream before every kernel that reads it.
        fixed (T* p = source)
            Check(cuMemcpyHtoDAsync_v2(d.Pointer, p, (nuint)(source.Length * sizeof(T)), _device.Stream), "cuMemcpyHtoDAsync_v2");
    }

    public unsafe void CopyToHost<T>(Storage source, Span<T> destination) where T : unmanaged
    {
        var s = DeviceStorage(source, typeof(T));
        if (destination.Length > s.Length)
            throw new ArgumentException($"CopyToHost: a {s.DType} storage of {s.Length} elements cannot fill {destination.Length}.");
        _device.MakeCurrent();
        // The error word, when a kernel may have flagged one, comes back in the same wait as the data.
        int* word = stackalloc int[ErrorWordLength];
        bool checkErrors = EnqueueErrorWordRead(word);
        if (!destination.IsEmpty)
        {
            fixed (T* p = destination)
                Check(cuMemcpyDtoHAsync_v2(p, s.Pointer, (nuint)(destination.Length * sizeof(T)), _device.Stream), "cuMemcpyDtoHAsync_v2");
        }
        if (checkErrors || !destination.IsEmpty) Check(cuStreamSynchronize(_device.Stream), "cuStreamSynchronize");
        if (checkErrors) ThrowFlaggedError(word);
    }

    /// <summary>Waits for every queued op and reports errors flagged on the device.</summary>
    public unsafe void Synchronize()
    {
        int* word = stackalloc int[ErrorWordLength];
        bool checkErrors = EnqueueErrorWordRead(word);
        _device.Synchronize();
        if (checkErrors) ThrowFlaggedError(word);
    }

    // ---- fill and cast -------------------------------------------------------------------------------------------------

    public void Fill(Tensor x, double value)
    {
        var s = DeviceStorage(x);
        if (x.Length == 0) return;
        _device.MakeCurrent();
        switch (x.DType)
        {
            case DType.F32:
                Check(cuMemsetD32Async(s.Pointer, BitConverter.SingleToUInt32Bits((float)value), (nuint)x.Length, _device.Stream), "cuMemsetD32Async");
                break;
            case DType.I32:
                Check(cuMemsetD32Async(s.Pointer, (uint)checked((int)value), (nuint)x.Length, _device.Stream), "cuMemsetD32Async");
                break;
            case DType.F64:
                Launch(Kernels.ElementwiseCu.FillF64(P(x), x.Length, value), Blocks(x.Length));
                break;
            case DType.BF16:
                Launch(Kernels.ElementwiseCu.FillBf16(P(x), x.Length, BFloat16.FromSingle((float)value)), Blocks(x.Length));
                break;
        }
    }

    public void Cast(Tensor source, Tensor destination)
    {
        SameLength(source, destination);
        if (source.Length == 0) return;
        if (source.DType == destination.DType)
        {
            _device.MakeCurrent();
            Check(cuMemcpyDtoDAsync_v2(DeviceStorage(destination).Pointer, DeviceStorage(source).Pointer,
                (nuint)(source.Length * source.DType.SizeInBytes()), _device.Stream), "cuMemcpyDtoDAsync_v2");
            return;
        }
        Launch(Kernels.ElementwiseCu.CastTo(CastType(source), CastType(destination), P(source), P(destination), source.Length),
            Blocks(source.Length));
    }

    private static DType CastType(Tensor t) => t.DType is DType.F32 or DType.F64 or DType.BF16 ? t.DType
        : throw new NotSupportedException($"Cast: {t.Describe()} is not a floating-point tensor.");

    // ---- launching -----------------------------------------------------------------------------------------------------

    private const int Threads = 256;

    /// <summary>A grid-stride grid for n elements: enough blocks to fill the device a few times over, at least one.</summary>
    private (uint X, uint Y) Blocks(long n) => ((uint)Math.Clamp((n + Threads - 1) / Threads, 1, _device.Multiprocessors * 16L), 1);

    /// <summary>One warp per row, 8 rows per block.</summary>
    private static (uint X, uint Y) WarpRows(long rows) => ((uint)Math.Max(1, (rows + 7) / 8), 1);

    // Rows along y, columns along x.
    private static (uint X, uint Y) RowGrid(int rows, int cols) => ((uint)Math.Min((cols + Threads - 1) / Threads, 64), (uint)Math.Min(rows, 65535));

    // Column reductions: 32 columns per block along x, slices of rows along y so that narrow, tall inputs still launch a few
    // blocks per multiprocessor; up to 256 rows stay in one slice (deterministic).
    private ((uint X, uint Y) Grid, int RowsPerSlice) ColumnSlices(int rows, int cols)
    {
        long columnBlocks = (cols + 31) / 32;
        long wanted = Math.Max(1, 4L * _device.Multiprocessors / columnBlocks);
        int rowsPerSlice = (int)Math.Max(256, (rows + wanted - 1) / wanted);
        return (((uint)columnBlocks, (uint)((rows + rowsPerSlice - 1) / rowsPerSlice)), rowsPerSlice);
    }

    // float4 paths: F32, a length that is a multiple of 4, 16-byte aligned addresses (arena blocks are 512-aligned; exact
    // emulator blocks are aligned when their size is a multiple of 16).
    private bool Vectorizable(params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
        {
            if (t.DType != DType.F32 || t.Length % 4 != 0 || DeviceStorage(t).Pointer % 16 != 0) return false;
        }
        return true;
    }

    private void Launch(in KernelCall call, (uint X, uint Y) grid) => Launch(call, grid, (Threads, 1));

    /// <summary>Queues a kernel that a typed handle of <see cref="Kernels"/> named and packed the arguments of.</summary>
    private unsafe void Launch(in KernelCall call, (uint X, uint Y) grid, (uint X, uint Y) block)
    {
        _device.MakeCurrent();
        nint function = _modules.Function(call.File, call.Kernel);
        KernelArg* args = stackalloc KernelArg[KernelCall.MaxArguments];
        call.CopyArguments(new Span<KernelArg>(args, KernelCall.MaxArguments));
        void** pointers = stackalloc void*[KernelCall.MaxArguments];
        for (int i = 0; i < call.Count; i++) pointers[i] = args + i;
        Check(cuLaunchKernel(function, grid.X, grid.Y, 1, block.X, block.Y, 1, 0, _device.Stream, pointers, null), $"cuLaunchKernel({call.Kernel})");
    }

    // ---- operands ------------------------------------------------------------------------------------------------------

    private CudaStorage DeviceStorage(Storage storage, Type? hostType = null, [CallerMemberName] string op = "")
    {
        if (storage is not CudaStorage s || !ReferenceEquals(s.Backend, this))
            throw new ArgumentException($"{op}: a {storage.DType} storage on {storage.Backend.Name} is not on this CUDA device; copy it first.");
        if (hostType is not null && HostDTypeOf(hostType) != s.DType)
            throw new ArgumentException($"{op}: the storage holds {s.DType}, not {hostType.Name}.");
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (s.IsReleased)
            throw new InvalidOperationException($"{op}: a {s.DType} tensor of {s.Length:N0} elements is used after the scope that allocated it " +
                "ended, and its device memory may hold another tensor now; allocate it outside that scope to keep it longer.");
        return s;
    }

    private static DType HostDTypeOf(Type t) =>
        t == typeof(float) ? DType.F32 : t == typeof(double) ? DType.F64 : t == typeof(int) ? DType.I32 : t == typeof(ushort) ? DType.BF16
        : throw new NotSupportedException($"No tensor dtype stores {t.Name}.");

    private CudaStorage DeviceStorage(Tensor t, [CallerMemberName] string op = "") => DeviceStorage(t.Storage, null, op);

    /// <summary>The device address of a tensor as a kernel argument.</summary>
    private DevicePointer P(Tensor t, [CallerMemberName] string op = "") => new(DeviceStorage(t, op).Pointer);

    /// <summary>A null pointer for an absent optional tensor.</summary>
    private DevicePointer OptionalP(Tensor? t, [CallerMemberName] string op = "") => t is null ? DevicePointer.Null : P(t, op);

    /// <summary>
    /// F32 or F64: the dtype that picks a kernel family's variant (<see cref="Kernels"/>) for a floating-point tensor;
    /// the family passes its scalars in that precision.
    /// </summary>
    private static DType KernelType(Tensor t, [CallerMemberName] string op = "") => t.DType is DType.F32 or DType.F64 ? t.DType
        : throw new NotSupportedException($"{op}: {t.Describe()} is {t.DType}; the CUDA kernels compute in F32 or F64 (cast BF16 first).");

    private static void SameLength(Tensor a, Tensor b, [CallerMemberName] string op = "")
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"{op}: {a.Describe()} and {b.Describe()} differ in size.");
    }

    private static void SameType(string op, Tensor first, params ReadOnlySpan<Tensor?> others)
    {
        foreach (var t in others)
        {
            if (t is not null && t.DType != first.DType)
                throw new ArgumentException($"{op}: {t.Describe()} is not {first.DType} like {first.Describe()}.");
        }
    }

    // ---- errors flagged by kernels -------------------------------------------------------------------------------------

    private DevicePointer ErrorWord()
    {
        _errorWordArmed = true;
        return new DevicePointer(_errorWord.Pointer);
    }

    // Queues the copy of the error word into word when a kernel that can flag one ran since the last check.
    private unsafe bool EnqueueErrorWordRead(int* word)
    {
        if (!_errorWordArmed) return false;
        _errorWordArmed = false;
        Check(cuMemcpyDtoHAsync_v2(word, _errorWord.Pointer, ErrorWordLength * sizeof(int), _device.Stream), "cuMemcpyDtoHAsync_v2");
        return true;
    }

    // After the wait for the word's copy: throws what the word says, and clears it on the device.
    private unsafe void ThrowFlaggedError(int* word)
    {
        if (word[0] == 0) return;
        Check(cuMemsetD32Async(_errorWord.Pointer, 0, ErrorWordLength, _device.Stream), "cuMemsetD32Async");
        throw word[0] switch
        {
            1 => new ArgumentOutOfRangeException("ids", $"Embedding: id {word[2]} at position {word[1]} is outside the table of {word[3]} rows."),
            _ => new ArgumentOutOfRangeException("targets", $"CrossEntropy: target {word[2]} at position {word[1]} is outside [0, {word[3]})."),
        };
    }

    public void Dispose()
    {
        if (_disposed) return;
        _device.MakeCurrent();
        _device.Synchronize();
        Cublas.cublasDestroy_v2(_cublas);
        _modules.Dispose();
        _arena.Dispose();
        _device.Dispose();
        _disposed = true;
    }

    public override string ToString() => $"cuda: {_device}";
}
