using System.Diagnostics.CodeAnalysis;
using MedClip.Tensors;

namespace MedClip.Distributed;

/// <summary>
/// The collectives data-parallel training needs, over the ranks of one job (one process per device). Tensor collectives
/// work on F32 or F64 tensors of the rank's backend; the host collectives carry small control messages (start-up
/// checks, the stop flag, a local-loss average). Every rank must call the same collectives in the same order with the
/// same sizes; a collective that does not complete within the communicator's timeout ends the whole job with a message.
/// </summary>
public interface ICommunicator : IDisposable
{
    int Rank { get; }
    int WorldSize { get; }

    /// <summary>The rank among the processes of this node (picks the GPU).</summary>
    int LocalRank { get; }

    /// <summary>What carries the collectives, for the log ("MPI", "NCCL", "single process").</summary>
    string Name { get; }

    /// <summary>Sums the tensor elementwise over all ranks, in place.</summary>
    void AllReduceSum(Tensor tensor);

    /// <summary>The ranks' tensors [n, ...] stacked in rank order along the first axis: [WorldSize * n, ...].</summary>
    Tensor AllGather(Tensor local);

    /// <summary>Overwrites the tensor on every rank with its value on <paramref name="root"/>.</summary>
    void Broadcast(Tensor tensor, int root);

    /// <summary>Sums small host arrays elementwise over all ranks.</summary>
    double[] AllReduceSum(double[] values);

    /// <summary>Every rank's values, concatenated in rank order (every rank passes the same count).</summary>
    long[] AllGather(long[] values);

    /// <summary>Ends every rank of the job (MPI_Abort, ncclCommAbort) after this rank has printed why.</summary>
    [DoesNotReturn]
    void Abort(int exitCode);
}

