using MedClip.Tensors;

namespace MedClip.Optim;

/// <summary>Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_): scale every gradient by min(1, max/||g||).</summary>
public static class GradientClipping
{
    /// <summary>Returns the global L2 norm of all gradients before clipping.</summary>
    public static double ClipByGlobalNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToArray();
        if (grads.Length == 0) return 0;
        var backend = grads[0].Backend;
        var sumSquares = Tensor.Zeros(backend, new Shape(), grads[0].DType);
        foreach (var g in grads) backend.SumOfSquares(g, sumSquares);
        double norm = Math.Sqrt(sumSquares.Item());
        double factor = maxNorm / (norm + 1e-6);
        if (factor < 1)
        {
            foreach (var g in grads) backend.Scale(g, factor);
        }
        return norm;
    }
}
