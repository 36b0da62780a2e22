using MedClip.Tensors;

namespace MedClip.Autograd;

public static partial class Ops
{
    /// <summary>Layer norm over the last axis with affine gamma and beta.</summary>
    public static Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, double eps)
    {
        var (rows, cols, y, mean, rstd) = LayerNormOutputs("LayerNorm", x, gamma, beta);
        x.Backend.LayerNormForward(x, gamma, beta, y, mean, rstd, rows, cols, eps);
        return RecordLayerNorm(y, x, gamma, beta, mean, rstd);
    }

    /// <summary>
    /// LayerNorm(a + b), the post-LN residual (BERT): the add and the layer norm in one pass with the sum not kept, and
    /// backward adding the layer norm's input gradient straight into the gradients of a and b (recomputing a + b), so
    /// neither the sum nor its gradient is ever stored.
    /// </summary>
    public static Tensor AddLayerNorm(Tensor a, Tensor b, Tensor gamma, Tensor beta, double eps)
    {
        SameShape("AddLayerNorm", a, b);
        var (rows, cols, y, mean, rstd) = LayerNormOutputs("AddLayerNorm", a, gamma, beta);
        var be = a.Backend;
        be.AddLayerNormForward(a, b, null, gamma, beta, y, mean, rstd, rows, cols, eps);
        return Tape.Record("AddLayerNorm", y, [a, b, gamma, beta], dy =>
        {
            var dGamma = gamma.RequiresGrad ? gamma.GradOrZeros() : Like(gamma);
            var dBeta = beta.RequiresGrad ? beta.GradOrZeros() : Like(beta);
            be.AddLayerNormBackward(dy, a, b, gamma, mean, rstd, a.RequiresGrad ? a.GradOrZeros() : null, b.RequiresGrad ? b.GradOrZeros() : null,
                dGamma, dBeta, rows, cols);
        });
    }

    /// <summary>
    /// h = a + b and LayerNorm(h) in one forward pass, the pre-LN residual (ViT): h is the residual stream the layer goes
    /// on to add to, LayerNorm(h) the next sublayer's input.
    /// </summary>
    public static (Tensor Sum, Tensor Normalized) AddLayerNormKeepingSum(Tensor a, Tensor b, Tensor gamma, Tensor beta, double eps)
    {
        SameShape("AddLayerNorm", a, b);
        var (rows, cols, y, mean, rstd) = LayerNormOutputs("AddLayerNorm", a, gamma, beta);
        var sum = EmptyLike(a);
        a.Backend.AddLayerNormForward(a, b, sum, gamma, beta, y, mean, rstd, rows, cols, eps);
        // The tape keeps one output per node, so the two outputs are two nodes, as if the ops were unfused: h an Add of a
        // and b, and the layer norm a node on h with the statistics the fused pass saved. h has a gradient of its own
        // (the residual path), so the layer norm adds into it and h's node passes the total to a and b: one
        // read-modify-write of h's gradient, where adding into a's and b's directly (AddLayerNorm's backward) would take
        // two and h's node would still pass its own part on; and the gradients are the unfused ops' to the last bit.
        var h = RecordAdd(sum, a, b, 1, 1);
        return (h, RecordLayerNorm(y, h, gamma, beta, mean, rstd));
    }

    // Checks a layer norm's operands and allocates its output [rows, cols] and statistics [rows].
    private static (int Rows, int Cols, Tensor Y, Tensor Mean, Tensor Rstd) LayerNormOutputs(string op, Tensor x, Tensor gamma, Tensor beta)
    {
        int cols = x.Shape.Last, rows = (int)x.Shape.Rows;
        Require(gamma.Length == cols && beta.Length == cols && gamma.DType == x.DType && beta.DType == x.DType,
            $"{op}: input {x.Describe()} does not match gamma {gamma.Describe()} and beta {beta.Describe()}.");
        var y = EmptyLike(x);
        return (rows, cols, y, Tensor.Empty(x.Backend, [rows], x.DType), Tensor.Empty(x.Backend, [rows], x.DType));
    }

    // Records y = LayerNorm(x) computed with these statistics.
    private static Tensor RecordLayerNorm(Tensor y, Tensor x, Tensor gamma, Tensor beta, Tensor mean, Tensor rstd) =>
        Tape.Record("LayerNorm", y, [x, gamma, beta], dy =>
        {
            // The kernel writes all three gradients; untracked ones go to scratch buffers.
            var dx = x.RequiresGrad ? x.GradOrZeros() : Like(x);
            var dGamma = gamma.RequiresGrad ? gamma.GradOrZeros() : Like(gamma);
            var dBeta = beta.RequiresGrad ? beta.GradOrZeros() : Like(beta);
            x.Backend.LayerNormBackward(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, (int)x.Shape.Rows, x.Shape.Last);
        });

    /// <summary>Row-wise x / max(||x||, 1e-12) over the last axis.</summary>
    public static Tensor L2Normalize(Tensor x)
    {
        int cols = x.Shape.Last, rows = (int)x.Shape.Rows;
        var be = x.Backend;
        var y = Like(x);
        var norms = Tensor.Zeros(be, [rows], x.DType);
        be.L2NormalizeForward(x, y, norms, rows, cols);
        var slot = x.Slot; // the backward reads y and the norms
        return Tape.Record("L2Normalize", y, [x], dy => be.L2NormalizeBackward(y, dy, norms, slot.GradOrZeros(), rows, cols));
    }
}
