using MedClip.Tensors;

namespace MedClip.Autograd;

public static partial class Ops
{
    /// <summary>Layer norm over the last axis with affine gamma and beta.</summary>
    public static Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, double eps)
    {
        int cols = x.Shape.Last, rows = (int)x.Shape.Rows;
        Require(gamma.Length == cols && beta.Length == cols && gamma.DType == x.DType && beta.DType == x.DType,
            $"LayerNorm: input {x.Describe()} does not match gamma {gamma.Describe()} and beta {beta.Describe()}.");
        var be = x.Backend;
        var y = Like(x);
        var mean = Tensor.Zeros(be, [rows], x.DType);
        var rstd = Tensor.Zeros(be, [rows], x.DType);
        be.LayerNormForward(x, gamma, beta, y, mean, rstd, rows, cols, eps);
        return Tape.Record("LayerNorm", y, [x, gamma, beta], dy =>
        {
            // The kernel writes all three gradients; untracked ones go to scratch buffers.
            var dx = x.RequiresGrad ? x.GradOrZeros() : Like(x);
            var dGamma = gamma.RequiresGrad ? gamma.GradOrZeros() : Like(gamma);
            var dBeta = beta.RequiresGrad ? beta.GradOrZeros() : Like(beta);
            be.LayerNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, rows, cols);
        });
    }

    /// <summary>Row-wise x / max(||x||, 1e-12) over the last axis.</summary>
    public static Tensor L2Normalize(Tensor x)
    {
        int cols = x.Shape.Last, rows = (int)x.Shape.Rows;
        var be = x.Backend;
        var y = Like(x);
        var norms = Tensor.Zeros(be, [rows], x.DType);
        be.L2NormalizeForward(x, y, norms, rows, cols);
        return Tape.Record("L2Normalize", y, [x], dy => be.L2NormalizeBackward(y, dy, norms, x.GradOrZeros(), rows, cols));
    }
}
