using MedClip.Tensors;

namespace MedClip.Autograd;

public static partial class Ops
{
    /// <summary>exp(min(logScale, maxLogScale)) * x for a one-element logScale (CLIP's learnable temperature).</summary>
    public static Tensor ExpScale(Tensor x, Tensor logScale, double maxLogScale)
    {
        Require(logScale.Length == 1 && logScale.DType == x.DType, $"ExpScale: the log scale {logScale.Describe()} must be one element of {x.DType}.");
        var be = x.Backend;
        var y = Like(x);
        be.ExpScaleForward(x, logScale, y, maxLogScale);
        return Tape.Record("ExpScale", y, [x, logScale], dy =>
        {
            var dx = x.RequiresGrad ? x.GradOrZeros() : Like(x);
            be.ExpScaleBackward(x, logScale, dy, dx, logScale.RequiresGrad ? logScale.GradOrZeros() : null, maxLogScale);
        });
    }

    /// <summary>
    /// Mean cross-entropy of logits [rows, cols] against I32 targets, along rows (one target column per row) or along
    /// columns (one target row per column). Returns a scalar.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, bool alongColumns = false)
    {
        Require(logits.Rank == 2 && targets.DType == DType.I32, $"CrossEntropy: needs [rows, cols] logits and I32 targets, got {logits.Describe()} and {targets.Describe()}.");
        int rows = logits.Shape[0], cols = logits.Shape[1], count = alongColumns ? cols : rows;
        Require(targets.Length == count, $"CrossEntropy: {targets.Describe()} must hold {count} targets for {logits.Describe()} along {(alongColumns ? "columns" : "rows")}.");
        var be = logits.Backend;
        var loss = Tensor.Zeros(be, new Shape(), logits.DType);
        double weight = 1.0 / count;
        be.CrossEntropyForward(logits, targets, loss, rows, cols, alongColumns, weight);
        return Tape.Record("CrossEntropy", loss, [logits], dLoss =>
            be.CrossEntropyBackward(logits, targets, dLoss, logits.GradOrZeros(), rows, cols, alongColumns, weight));
    }

    /// <summary>
    /// Symmetric InfoNCE of square logits [n, n] (pair i matches pair i): the mean of the row and the column
    /// cross-entropies, from one fused backend call that also forms d loss / d logits; the backward pass scales that by
    /// dLoss (on the device) and adds it into the logits' gradient.
    /// </summary>
    public static Tensor InfoNce(Tensor logits)
    {
        Require(logits.Rank == 2 && logits.Shape[0] == logits.Shape[1], $"InfoNce: logits {logits.Describe()} must be square (one text per image).");
        int n = logits.Shape[0];
        var be = logits.Backend;
        var loss = Tensor.Zeros(be, new Shape(), logits.DType);
        var dLogits = Like(logits);
        be.InfoNceForwardBackward(logits, loss, dLogits, n);
        return Tape.Record("InfoNce", loss, [logits], dLoss =>
        {
            be.ScaleByTensor(dLogits, dLoss);
            be.Axpy(1.0, dLogits, logits.GradOrZeros());
        });
    }
}
