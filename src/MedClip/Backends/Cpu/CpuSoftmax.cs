using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's attention softmax.
public sealed partial class CpuBackend
{
    public void SoftmaxForward(Tensor x, Tensor? keyMask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal) =>
        Dispatch(x, new SoftmaxForwardOp(x, Optional<int>(keyMask), y, batch, heads, queries, keys, scale, causal));

    private readonly struct SoftmaxForwardOp(Tensor x, int[]? mask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuSoftmax<T>.Forward(of[x], mask, of[y], batch, heads, queries, keys, T.CreateTruncating(scale), causal);
    }

    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale) =>
        Dispatch(y, new SoftmaxBackwardOp(y, dy, dx, rows, keys, scale));

    private readonly struct SoftmaxBackwardOp(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuSoftmax<T>.Backward(of[y], of[dy], of[dx], rows, keys, T.CreateTruncating(scale));
    }
}

/// <summary>
/// Masked, scaled softmax over the last axis of attention scores [batch*heads*queries, keys], vectorised per row.
/// Padded keys get probability 0 exactly (their score becomes -inf, not a large negative number), so a fully padded
/// row is all zeros. Causal rows also drop the keys after their query (key k > query q), CLIP's text tower's mask.
/// </summary>
internal static class CpuSoftmax<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] x, int[]? keyMask, T[] y, int batch, int heads, int queries, int keys, T scale, bool causal)
    {
        int rows = batch * heads * queries;
        var padded = keyMask is null ? null : PaddedRuns(keyMask, batch, keys);
        CpuParallel.ForRows(rows, keys * 4L, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                var yr = y.AsSpan(r * keys, keys);
                TensorPrimitives.Multiply(x.AsSpan(r * keys, keys), scale, yr);
                if (padded is not null)
                {
                    foreach (var (first, last) in padded[r / (heads * queries)]) yr[first..last].Fill(T.NegativeInfinity);
                }
                if (causal) yr[Math.Min(r % queries + 1, keys)..].Fill(T.NegativeInfinity);
                // Subtracting the row's maximum keeps exp from overflowing; exp(-inf) = 0 drops the padded keys.
                T max = TensorPrimitives.Max<T>(yr);
                if (T.IsNegativeInfinity(max))
                {
                    yr.Clear();
                    continue;
                }
                TensorPrimitives.Subtract(yr, max, yr);
                TensorPrimitives.Exp<T>(yr, yr);
                TensorPrimitives.Divide(yr, TensorPrimitives.Sum<T>(yr), yr);
            }
        });
    }

    // Each sequence's padded keys (mask 0) as runs [first, last), found once instead of in every row of its heads and
    // queries: usually one run, the padding after the text.
    private static (int First, int Last)[][] PaddedRuns(int[] keyMask, int batch, int keys)
    {
        var runs = new (int, int)[batch][];
        var found = new List<(int, int)>();
        for (int b = 0; b < batch; b++)
        {
            found.Clear();
            var mask = keyMask.AsSpan(b * keys, keys);
            for (int k = 0; k < keys; k++)
            {
                if (mask[k] != 0) continue;
                int first = k;
                while (k < keys && mask[k] == 0) k++;
                found.Add((first, k));
            }
            runs[b] = [.. found];
        }
        return runs;
    }

    /// <summary>dx += scale * y * (dy - sum(dy*y)).</summary>
    public static void Backward(T[] y, T[] dy, T[] dx, int rows, int keys, T scale) =>
        CpuParallel.ForRows(rows, keys * 4L, (start, end) =>
        {
            var tmp = new T[keys];
            for (int r = start; r < end; r++)
            {
                var yr = y.AsSpan(r * keys, keys);
                var dyr = dy.AsSpan(r * keys, keys);
                var dxr = dx.AsSpan(r * keys, keys);
                T dot = TensorPrimitives.Dot<T>(yr, dyr);
                TensorPrimitives.Subtract(dyr, dot, tmp);
                TensorPrimitives.Multiply<T>(tmp, yr, tmp);
                TensorPrimitives.MultiplyAdd<T>(tmp, scale, dxr, dxr);
            }
        });
}
