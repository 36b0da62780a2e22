using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Distributed;

/// <summary>Collectives recorded on the tape, so that gradients flow back across the ranks.</summary>
public static class Collectives
{
    /// <summary>
    /// All-gather with gradient (open_clip's --gather-with-grad): x [n, ...] on each rank -> [ranks * n, ...] in rank
    /// order. Backward: every rank's loss may depend on every rank's rows, so the gathered gradients are summed over
    /// the ranks (all-reduce) and each rank keeps its own slice: dx_r = sum_s dy_s[r*n .. (r+1)*n). Every rank then
    /// holds the gradient of the sum of all ranks' losses, which the trainer's gradient average turns into the
    /// gradient of their mean.
    /// </summary>
    public static Tensor AllGather(Tensor x, ICommunicator communicator)
    {
        Ops.Require(x.Rank >= 1, $"AllGather: {x.Describe()} needs a leading axis to stack the ranks along.");
        var y = communicator.AllGather(x);
        int rank = communicator.Rank, length = checked((int)x.Length);
        var slot = x.Slot;
        return Tape.Record("AllGather", y, [x], dy =>
        {
            var summed = Ops.Like(dy);
            dy.Backend.CopyBlocks(dy, 0, 0, summed, 0, 0, checked((int)dy.Length), 1, accumulate: false);
            communicator.AllReduceSum(summed);
            dy.Backend.CopyBlocks(summed, (long)rank * length, 0, slot.GradOrZeros(), 0, 0, length, 1, accumulate: true);
        });
    }
}
