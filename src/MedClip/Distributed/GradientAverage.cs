using MedClip.Tensors;

namespace MedClip.Distributed;

/// <summary>
/// Averages the parameters' gradients over the ranks before clipping: the gradients are packed into one flat buffer
/// (one collective per step rather than one per parameter), all-reduced, divided by the world size and unpacked.
/// Parameters without a gradient are left out on every rank alike, since every rank runs the same graph.
/// </summary>
public static class GradientAverage
{
    public static void Apply(IEnumerable<Tensor> parameters, ICommunicator communicator)
    {
        if (communicator.WorldSize == 1) return;
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToArray();
        if (grads.Length == 0) return;
        var backend = grads[0].Backend;
        var flat = Tensor.Zeros(backend, [checked((int)grads.Sum(g => g.Length))], grads[0].DType);
        long offset = 0;
        foreach (var g in grads)
        {
            backend.CopyBlocks(g, 0, 0, flat, offset, 0, checked((int)g.Length), 1, accumulate: false);
            offset += g.Length;
        }
        communicator.AllReduceSum(flat);
        backend.Scale(flat, 1.0 / communicator.WorldSize);
        offset = 0;
        foreach (var g in grads)
        {
            backend.CopyBlocks(flat, offset, 0, g, 0, 0, checked((int)g.Length), 1, accumulate: false);
            offset += g.Length;
        }
    }

    /// <summary>Makes every rank's parameters equal to rank 0's (start-up and resume).</summary>
    public static void BroadcastParameters(IEnumerable<Tensor> parameters, ICommunicator communicator)
    {
        if (communicator.WorldSize == 1) return;
        foreach (var p in parameters) communicator.Broadcast(p, 0);
    }
}
