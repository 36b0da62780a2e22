using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

/// <summary>
/// Device memory of one tensor: a pointer into the <see cref="DeviceArena"/>, the element count and dtype. When the
/// storage becomes unreachable its finalizer returns the block to the arena (see there).
/// </summary>
public sealed class CudaStorage : Storage
{
    private readonly DeviceArena? _arena;
    private readonly long _bucket;

    internal CudaStorage(CudaBackend backend, DType dtype, long length, ulong pointer, DeviceArena? arena, long bucket)
        : base(backend, dtype, length)
    {
        Pointer = pointer;
        _arena = arena;
        _bucket = bucket;
    }

    /// <summary>The device address of element 0 (0 for an empty tensor).</summary>
    public ulong Pointer { get; }

    public long Bytes => Length * DType.SizeInBytes();

    ~CudaStorage() => _arena?.Return(Pointer, _bucket);
}
