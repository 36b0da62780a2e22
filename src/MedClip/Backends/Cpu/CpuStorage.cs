using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>CPU storage: a managed array (float, double, int, or ushort bits for BF16).</summary>
public sealed class CpuStorage<T> : Storage where T : unmanaged
{
    public CpuStorage(IBackend backend, long length) : base(backend, Tensor.HostDType<T>(), length)
    {
        Data = new T[length];
    }

    public T[] Data { get; }
}
