using System.Numerics;
using System.Numerics.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>
/// Fused multi-head attention on [batch, tokens, heads*dim] q, k, v (see <see cref="IBackend.AttentionForward"/>): one
/// query row at a time, its scores in a row buffer, so no [tokens, tokens] matrix is kept. Work is spread over
/// (batch, head) pairs, which write disjoint rows of every output and gradient.
/// </summary>
internal static class CpuAttention<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] q, T[] k, T[] v, int[]? keyMask, T[] o, T[] lse, AttentionShape s)
    {
        int tokens = s.Tokens, heads = s.Heads, dim = s.HeadDim;
        T scale = T.CreateChecked(s.Scale);
        CpuParallel.ForRows(s.Batch * heads, 2L * tokens * tokens * dim, (start, end) =>
        {
            var qi = new T[dim];
            var p = new T[tokens];
            for (int bh = start; bh < end; bh++)
            {
                int b = bh / heads, h = bh % heads;
                for (int i = 0; i < tokens; i++)
                {
                    TensorPrimitives.Multiply(q.AsSpan(Row(s, b, i, h), dim), scale, qi);
                    T max = T.NegativeInfinity;
                    for (int j = 0; j < tokens; j++)
                    {
                        p[j] = Kept(keyMask, b, tokens, j) ? TensorPrimitives.Dot<T>(qi, k.AsSpan(Row(s, b, j, h), dim)) : T.NegativeInfinity;
                        max = T.Max(max, p[j]);
                    }
                    var oi = o.AsSpan(Row(s, b, i, h), dim);
                    oi.Clear();
                    if (T.IsNegativeInfinity(max))
                    {
                        lse[(long)bh * tokens + i] = T.PositiveInfinity;
                        continue;
                    }
                    // exp(-inf - max) = 0 drops the padded keys.
                    TensorPrimitives.Subtract(p, max, p);
                    TensorPrimitives.Exp<T>(p, p);
                    T sum = TensorPrimitives.Sum<T>(p);
                    for (int j = 0; j < tokens; j++)
                    {
                        if (p[j] != T.Zero) TensorPrimitives.MultiplyAdd(v.AsSpan(Row(s, b, j, h), dim), p[j], oi, oi);
                    }
                    TensorPrimitives.Divide(oi, sum, oi);
                    lse[(long)bh * tokens + i] = max + T.Log(sum);
                }
            }
        });
    }

    public static void Backward(T[] q, T[] k, T[] v, int[]? keyMask, T[] o, T[] lse, T[] dO, T[]? dq, T[]? dk, T[]? dv, AttentionShape s)
    {
        int tokens = s.Tokens, heads = s.Heads, dim = s.HeadDim;
        T scale = T.CreateChecked(s.Scale);
        CpuParallel.ForRows(s.Batch * heads, 4L * tokens * tokens * dim, (start, end) =>
        {
            var qi = new T[dim];
            for (int bh = start; bh < end; bh++)
            {
                int b = bh / heads, h = bh % heads;
                for (int i = 0; i < tokens; i++)
                {
                    int rowI = Row(s, b, i, h);
                    var qRow = q.AsSpan(rowI, dim);
                    var dORow = dO.AsSpan(rowI, dim);
                    TensorPrimitives.Multiply(qRow, scale, qi);
                    T delta = TensorPrimitives.Dot<T>(dORow, o.AsSpan(rowI, dim));
                    T lseI = lse[(long)bh * tokens + i];
                    for (int j = 0; j < tokens; j++)
                    {
                        if (!Kept(keyMask, b, tokens, j)) continue;
                        int rowJ = Row(s, b, j, h);
                        var kRow = k.AsSpan(rowJ, dim);
                        T p = T.Exp(TensorPrimitives.Dot<T>(qi, kRow) - lseI);
                        T dp = TensorPrimitives.Dot<T>(dORow, v.AsSpan(rowJ, dim));
                        T ds = p * (dp - delta) * scale;
                        if (dq is not null) TensorPrimitives.MultiplyAdd(kRow, ds, dq.AsSpan(rowI, dim), dq.AsSpan(rowI, dim));
                        if (dk is not null) TensorPrimitives.MultiplyAdd(qRow, ds, dk.AsSpan(rowJ, dim), dk.AsSpan(rowJ, dim));
                        if (dv is not null) TensorPrimitives.MultiplyAdd(dORow, p, dv.AsSpan(rowJ, dim), dv.AsSpan(rowJ, dim));
                    }
                }
            }
        });
    }

    private static int Row(in AttentionShape s, int b, int token, int h) => (b * s.Tokens + token) * s.Heads * s.HeadDim + h * s.HeadDim;

    private static bool Kept(int[]? keyMask, int b, int tokens, int j) => keyMask is null || keyMask[b * tokens + j] != 0;
}
