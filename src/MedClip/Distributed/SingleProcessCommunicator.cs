using System.Diagnostics.CodeAnalysis;
using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Distributed;

/// <summary>World size 1: every collective is the identity. Used when the process was not launched distributed.</summary>
public sealed class SingleProcessCommunicator : ICommunicator
{
    public static readonly SingleProcessCommunicator Instance = new();

    public int Rank => 0;
    public int WorldSize => 1;
    public int LocalRank => 0;
    public string Name => "single process";

    public void AllReduceSum(Tensor tensor) { }

    public Tensor AllGather(Tensor local)
    {
        var copy = Tensor.Zeros(local.Backend, local.Shape, local.DType);
        local.Backend.CopyBlocks(local, 0, 0, copy, 0, 0, checked((int)local.Length), 1, accumulate: false);
        return copy;
    }

    public void Broadcast(Tensor tensor, int root) => CheckRoot(root);

    public double[] AllReduceSum(double[] values) => [.. values];

    public long[] AllGather(long[] values) => [.. values];

    [DoesNotReturn]
    public void Abort(int exitCode)
    {
        Environment.Exit(exitCode);
        throw new InvalidOperationException("unreachable");
    }

    public void Dispose() { }

    private static void CheckRoot(int root) =>
        Ops.Require(root == 0, $"Broadcast from rank {root} in a single-process run, which has only rank 0.");
}
