using System.Diagnostics.CodeAnalysis;
using MedClip.Tensors;

namespace MedClip.Distributed;

/// <summary>
/// A communicator whose transport works on host memory (MPI between CPU processes, threads in tests): tensor
/// collectives copy the tensor to a host array, run the collective there and copy the result back. Subclasses supply
/// three typed collectives on float, double and long arrays.
/// </summary>
public abstract class HostStagedCommunicator : ICommunicator
{
    public abstract int Rank { get; }
    public abstract int WorldSize { get; }
    public abstract int LocalRank { get; }
    public abstract string Name { get; }

    /// <summary>Elementwise sum over ranks, in place.</summary>
    protected abstract void AllReduceSumHost<T>(T[] buffer, string what) where T : unmanaged;

    /// <summary>gathered = every rank's <paramref name="local"/> in rank order.</summary>
    protected abstract void AllGatherHost<T>(T[] local, T[] gathered, string what) where T : unmanaged;

    protected abstract void BroadcastHost<T>(T[] buffer, int root, string what) where T : unmanaged;

    [DoesNotReturn]
    public abstract void Abort(int exitCode);

    public abstract void Dispose();

    public void AllReduceSum(Tensor tensor)
    {
        switch (tensor.DType)
        {
            case DType.F32: AllReduceSumTensor<float>(tensor); break;
            case DType.F64: AllReduceSumTensor<double>(tensor); break;
            default: throw Unsupported("AllReduceSum", tensor);
        }
    }

    public Tensor AllGather(Tensor local) => local.DType switch
    {
        DType.F32 => AllGatherTensor<float>(local),
        DType.F64 => AllGatherTensor<double>(local),
        _ => throw Unsupported("AllGather", local),
    };

    public void Broadcast(Tensor tensor, int root)
    {
        switch (tensor.DType)
        {
            case DType.F32: BroadcastTensor<float>(tensor, root); break;
            case DType.F64: BroadcastTensor<double>(tensor, root); break;
            default: throw Unsupported("Broadcast", tensor);
        }
    }

    public double[] AllReduceSum(double[] values)
    {
        double[] result = [.. values];
        AllReduceSumHost(result, "a control all-reduce");
        return result;
    }

    public long[] AllGather(long[] values)
    {
        var gathered = new long[values.Length * WorldSize];
        AllGatherHost(values, gathered, "a control all-gather");
        return gathered;
    }

    private void AllReduceSumTensor<T>(Tensor tensor) where T : unmanaged
    {
        var host = new T[tensor.Length];
        tensor.Backend.CopyToHost<T>(tensor.Storage, host);
        AllReduceSumHost(host, $"the all-reduce of {tensor.Describe()}");
        tensor.Backend.CopyFromHost<T>(host, tensor.Storage);
    }

    private Tensor AllGatherTensor<T>(Tensor local) where T : unmanaged
    {
        var host = new T[local.Length];
        local.Backend.CopyToHost<T>(local.Storage, host);
        var gathered = new T[host.LongLength * WorldSize];
        AllGatherHost(host, gathered, $"the all-gather of {local.Describe()}");
        var dims = local.Shape.ToArray();
        dims[0] *= WorldSize;
        return Tensor.FromArray(local.Backend, new Shape(dims), gathered);
    }

    private void BroadcastTensor<T>(Tensor tensor, int root) where T : unmanaged
    {
        var host = new T[tensor.Length];
        tensor.Backend.CopyToHost<T>(tensor.Storage, host);
        BroadcastHost(host, root, $"the broadcast of {tensor.Describe()}");
        tensor.Backend.CopyFromHost<T>(host, tensor.Storage);
    }

    private static NotSupportedException Unsupported(string op, Tensor tensor) =>
        new($"{op} carries F32 or F64 tensors, not {tensor.Describe()}.");
}
