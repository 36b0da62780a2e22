using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

/// <summary>
/// Device memory of one tensor: a pointer into the <see cref="DeviceArena"/>, the element count and dtype. Storage made
/// inside a scope is released when the scope ends; any other goes back through its finalizer (see the arena).
/// </summary>
public sealed class CudaStorage : Storage
{
    private readonly DeviceArena? _arena;
    private readonly long _bucket;
    private readonly bool _pressure;
    private readonly bool _ownedByScope;

    /// <param name="scoped">Whether the innermost scope open on this thread (if any) owns it.</param>
    internal CudaStorage(CudaBackend backend, DType dtype, long length, ulong pointer, DeviceArena? arena, long bucket, bool scoped)
        : base(backend, dtype, length)
    {
        Pointer = pointer;
        _arena = arena;
        _bucket = bucket;
        if (arena is null) GC.SuppressFinalize(this);
        else if (scoped && arena.Track(this)) _ownedByScope = true;
        else
        {
            // Unscoped: the collector alone decides when it goes, so it is told what the storage holds on the device.
            GC.AddMemoryPressure(bucket);
            _pressure = true;
        }
    }

    /// <summary>The device address of element 0 (0 for an empty tensor).</summary>
    public ulong Pointer { get; }

    public long Bytes => Length * DType.SizeInBytes();

    /// <summary>True once the scope that owned this storage has ended: its block may hold another tensor now.</summary>
    public bool IsReleased { get; private set; }

    /// <summary>Back to the arena now when a scope owns it (the scope then skips it); a finalizer returns any other.</summary>
    public override void ReleaseEarly()
    {
        if (_ownedByScope) Release();
    }

    internal void Release()
    {
        if (IsReleased) return;
        IsReleased = true;
        GC.SuppressFinalize(this);
        _arena!.Release(Pointer, _bucket);
    }

    ~CudaStorage()
    {
        _arena!.ReturnFinalized(Pointer, _bucket);
        if (_pressure) GC.RemoveMemoryPressure(_bucket);
    }
}
