using MedClip.Tensors;

namespace MedClip.Optim;

/// <summary>Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_): scale every gradient by min(1, max/||g||).</summary>
public static class GradientClipping
{
    /// <summary>
    /// Clips every gradient on its backend and returns the squared global norm before clipping, a one-element tensor
    /// there (null when no parameter has a gradient). Nothing is read back: <see cref="Norm"/> reads it when wanted.
    /// </summary>
    public static Tensor? ClipByGlobalNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToArray();
        if (grads.Length == 0) return null;
        var backend = grads[0].Backend;
        var sumSquares = Tensor.Zeros(backend, new Shape(), grads[0].DType);
        foreach (var g in grads) backend.SumOfSquares(g, sumSquares);
        foreach (var g in grads) backend.ClipByNorm(g, sumSquares, maxNorm);
        return sumSquares;
    }

    /// <summary>The global L2 norm from <see cref="ClipByGlobalNorm"/>'s result (0 without gradients); waits for the device.</summary>
    public static double Norm(Tensor? sumSquares) => sumSquares is null ? 0 : Math.Sqrt(sumSquares.Item());
}
