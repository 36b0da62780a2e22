using MedClip.Backends;

namespace MedClip.Tensors;

/// <summary>A flat buffer of elements owned by one backend (a managed array on the CPU, device memory on CUDA).</summary>
public abstract class Storage
{
    protected Storage(IBackend backend, DType dtype, long length)
    {
        Backend = backend;
        DType = dtype;
        Length = length;
    }

    public IBackend Backend { get; }
    public DType DType { get; }
    public long Length { get; }

    /// <summary>
    /// Gives the memory back to the scope that owns this storage before the scope ends; no-op for storage no scope owns.
    /// The storage must not be used afterwards (an op on it fails).
    /// </summary>
    public virtual void ReleaseEarly()
    {
    }
}
