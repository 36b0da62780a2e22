using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>What the buffer pool needs of a CPU storage whatever its element type.</summary>
internal interface ICpuStorage
{
    Array Buffer { get; }

    /// <summary>The open scope that releases this storage when it ends, if any.</summary>
    CpuBufferPool.Scope? OwningScope { set; }

    /// <summary>Marks the storage released (its array may hold another tensor from now on) and returns the array, or null if it already was.</summary>
    Array? Release();
}

/// <summary>CPU storage: a managed array (float, double, int, or ushort bits for BF16).</summary>
public sealed class CpuStorage<T> : Storage, ICpuStorage where T : unmanaged
{
    private T[]? _data;
    private CpuBufferPool.Scope? _owningScope;

    public CpuStorage(IBackend backend, long length) : this(backend, new T[length])
    {
    }

    internal CpuStorage(IBackend backend, T[] data) : base(backend, Tensor.HostDType<T>(), data.LongLength)
    {
        _data = data;
    }

    /// <summary>The elements; an error once the scope that allocated the storage has ended.</summary>
    public T[] Data => _data ?? throw new InvalidOperationException(
        $"A {DType} tensor of {Length:N0} elements is used after the scope that allocated it ended, and its array may hold " +
        "another tensor now; allocate it outside that scope to keep it longer.");

    /// <summary>True once the scope that owned this storage has ended.</summary>
    public bool IsReleased => _data is null;

    Array ICpuStorage.Buffer => Data;

    CpuBufferPool.Scope? ICpuStorage.OwningScope { set => _owningScope = value; }

    /// <summary>Back to the buffer pool now when a scope owns it (the scope then skips it); the GC takes any other.</summary>
    public override void ReleaseEarly() => _owningScope?.ReleaseEarly(this);

    Array? ICpuStorage.Release()
    {
        var data = _data;
        _data = null;
        return data;
    }
}
