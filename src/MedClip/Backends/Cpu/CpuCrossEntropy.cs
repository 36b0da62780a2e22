using System.Numerics;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's cross-entropy and CLIP's clamped logit scale.
public sealed partial class CpuBackend
{
    public void CrossEntropyForward(Tensor logits, Tensor targets, Tensor loss, int rows, int cols, bool alongColumns, double weight) =>
        Dispatch(logits, new CrossEntropyForwardOp(logits, D<int>(targets), loss, rows, cols, alongColumns, weight));

    private readonly struct CrossEntropyForwardOp(Tensor logits, int[] targets, Tensor loss, int rows, int cols, bool alongColumns, double weight) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuCrossEntropy<T>.Forward(of[logits], targets, of[loss], rows, cols, alongColumns, T.CreateTruncating(weight));
    }

    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns, double weight) =>
        Dispatch(logits, new CrossEntropyBackwardOp(logits, D<int>(targets), dLoss, dLogits, rows, cols, alongColumns, weight));

    private readonly struct CrossEntropyBackwardOp(Tensor logits, int[] targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns,
        double weight) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuCrossEntropy<T>.Backward(of[logits], targets, of[dLoss], of[dLogits], rows, cols, alongColumns, T.CreateTruncating(weight));
    }

    public void ExpScaleForward(Tensor x, Tensor logScale, Tensor y, double maxLogScale)
    {
        SameLength(x, y);
        Dispatch(x, new ExpScaleForwardOp(x, logScale, y, maxLogScale));
    }

    private readonly struct ExpScaleForwardOp(Tensor x, Tensor logScale, Tensor y, double maxLogScale) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuExpScale<T>.Forward(of[x], of[logScale], of[y], x.Length, T.CreateTruncating(maxLogScale));
    }

    public void ExpScaleBackward(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale) =>
        Dispatch(x, new ExpScaleBackwardOp(x, logScale, dy, dx, dLogScale, maxLogScale));

    private readonly struct ExpScaleBackwardOp(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuExpScale<T>.Backward(of[x], of[logScale], of[dy], of[dx], of.Optional(dLogScale), x.Length, T.CreateTruncating(maxLogScale));
    }
}

/// <summary>
/// Cross-entropy along the rows or the columns of a [rows, cols] logits matrix (CLIP's image->text and text->image
/// losses), and the clamped exponential temperature that scales the similarities into logits.
/// Losses are formed per distribution, then summed in index order (deterministic).
/// </summary>
internal static class CpuCrossEntropy<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] logits, int[] targets, T[] loss, int rows, int cols, bool alongColumns, T weight)
    {
        var (count, length, stride, step) = Layout(rows, cols, alongColumns);
        CheckTargets(targets, count, length);
        var perDistribution = new T[count];
        CpuParallel.ForRows(count, length * 2L, (start, end) =>
        {
            for (int d = start; d < end; d++)
            {
                long base0 = (long)d * step;
                T lse = LogSumExp(logits, base0, stride, length);
                perDistribution[d] = lse - logits[base0 + targets[d] * stride];
            }
        });
        T sum = T.Zero;
        foreach (var v in perDistribution) sum += v;
        loss[0] += weight * sum;
    }

    /// <summary>dLogits += dLoss * weight * (softmax - onehot(target)).</summary>
    public static void Backward(T[] logits, int[] targets, T[] dLoss, T[] dLogits, int rows, int cols, bool alongColumns, T weight)
    {
        var (count, length, stride, step) = Layout(rows, cols, alongColumns);
        CheckTargets(targets, count, length);
        T g = dLoss[0] * weight;
        CpuParallel.ForRows(count, length * 3L, (start, end) =>
        {
            for (int d = start; d < end; d++)
            {
                long base0 = (long)d * step;
                T lse = LogSumExp(logits, base0, stride, length);
                for (int i = 0; i < length; i++)
                {
                    long at = base0 + i * stride;
                    T p = T.Exp(logits[at] - lse);
                    dLogits[at] += g * (i == targets[d] ? p - T.One : p);
                }
            }
        });
    }

    // Distribution d covers elements base = d*step, base + stride, ..., length of them.
    private static (int count, int length, long stride, long step) Layout(int rows, int cols, bool alongColumns) =>
        alongColumns ? (cols, rows, cols, 1) : (rows, cols, 1, cols);

    private static T LogSumExp(T[] x, long start, long stride, int length)
    {
        T max = T.NegativeInfinity;
        for (int i = 0; i < length; i++) max = T.Max(max, x[start + i * stride]);
        T sum = T.Zero;
        for (int i = 0; i < length; i++) sum += T.Exp(x[start + i * stride] - max);
        return max + T.Log(sum);
    }

    private static void CheckTargets(int[] targets, int count, int classes)
    {
        for (int i = 0; i < count; i++)
        {
            if ((uint)targets[i] >= (uint)classes)
                throw new ArgumentOutOfRangeException(nameof(targets), $"CrossEntropy: target {targets[i]} at position {i} is outside [0, {classes}).");
        }
    }
}

/// <summary>y = exp(min(logScale, max)) * x and its gradient (zero for logScale once the clamp is active, as torch.clamp).</summary>
internal static class CpuExpScale<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] x, T[] logScale, T[] y, long length, T maxLogScale)
    {
        T s = T.Exp(T.Min(logScale[0], maxLogScale));
        CpuElementwise<T>.AddScaled(x, s, x, T.Zero, y, length);
    }

    public static void Backward(T[] x, T[] logScale, T[] dy, T[] dx, T[]? dLogScale, long length, T maxLogScale)
    {
        T s = T.Exp(T.Min(logScale[0], maxLogScale));
        CpuElementwise<T>.Axpy(s, dy, dx, length);
        if (dLogScale is not null && logScale[0] <= maxLogScale)
            dLogScale[0] += s * System.Numerics.Tensors.TensorPrimitives.Dot<T>(dy.AsSpan(0, (int)length), x.AsSpan(0, (int)length));
    }
}
