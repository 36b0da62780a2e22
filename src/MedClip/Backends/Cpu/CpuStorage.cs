using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>CPU storage: a managed array (float, double, int, or ushort bits for BF16).</summary>
public sealed class CpuStorage<T> : Storage where T : unmanaged
{
    public CpuStorage(IBackend backend, long length) : this(backend, new T[length])
    {
    }

    internal CpuStorage(IBackend backend, T[] data) : base(backend, Tensor.HostDType<T>(), data.LongLength)
    {
        Data = data;
    }

    public T[] Data { get; }
}
