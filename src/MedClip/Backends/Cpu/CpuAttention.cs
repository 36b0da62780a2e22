using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's fused attention: F32 or F64 through the one dtype dispatch; bf16's BF16 operands or output widened to F32.
public sealed partial class CpuBackend
{
    public void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, in AttentionShape shape)
    {
        var mask = Optional<int>(keyMask);
        if (o.DType == DType.BF16)
        {
            // bf16 mixed precision's BF16 output (of F32 or BF16 inputs): computed in F32, then rounded.
            var wide = new float[o.Length];
            CpuAttention<float>.Forward(Widened(q), Widened(k), Widened(v), mask, wide, D<float>(lse), shape, bf16Operands: q.DType == DType.BF16);
            RoundInto(wide, o);
        }
        else Dispatch(q, new AttentionForwardOp(q, k, v, mask, o, lse, shape));
    }

    private readonly struct AttentionForwardOp(Tensor q, Tensor k, Tensor v, int[]? mask, Tensor o, Tensor lse, AttentionShape shape) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuAttention<T>.Forward(of[q], of[k], of[v], mask, of[o], of[lse], shape);
    }

    public void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, in AttentionShape shape)
    {
        var mask = Optional<int>(keyMask);
        if (AnyBf16(q, k, v, o))
        {
            // bf16 mixed precision's BF16 operands or output, widened: the arithmetic and the gradients are F32.
            CpuAttention<float>.Backward(Widened(q), Widened(k), Widened(v), mask, Widened(o), D<float>(lse), D<float>(dO),
                Optional<float>(dq), Optional<float>(dk), Optional<float>(dv), shape, bf16Operands: q.DType == DType.BF16);
        }
        else Dispatch(q, new AttentionBackwardOp(q, k, v, mask, o, lse, dO, dq, dk, dv, shape));
    }

    private readonly struct AttentionBackwardOp(Tensor q, Tensor k, Tensor v, int[]? mask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, AttentionShape shape) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuAttention<T>.Backward(of[q], of[k], of[v], mask, of[o], of[lse], of[dO], of.Optional(dq), of.Optional(dk), of.Optional(dv), shape);
    }

    private static bool AnyBf16(params ReadOnlySpan<Tensor> tensors)
    {
        foreach (var t in tensors)
        {
            if (t.DType == DType.BF16) return true;
        }
        return false;
    }
}

/// <summary>
/// Fused multi-head attention on [batch, tokens, heads*dim] q, k, v (see <see cref="IBackend.AttentionForward"/>): one
/// query row at a time, its scores in a row buffer, so no [tokens, tokens] matrix is kept. Work is spread over
/// (batch, head) pairs, which write disjoint rows of every output and gradient. With <c>bf16Operands</c> (bf16 mixed
/// precision's BF16 q, k, v; T is float) the probabilities, their gradients ds and dO enter their products rounded to
/// BF16, as the CUDA kernels' tensor cores read them (p relative to the running maximum of 64-key tiles, as the kernels
/// have it); sums, statistics and accumulation stay in T.
/// </summary>
internal static class CpuAttention<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] q, T[] k, T[] v, int[]? keyMask, T[] o, T[] lse, AttentionShape s, bool bf16Operands = false)
    {
        int tokens = s.Tokens, heads = s.Heads, dim = s.HeadDim;
        T scale = T.CreateChecked(s.Scale);
        CpuParallel.ForRows(s.Batch * heads, 2L * tokens * tokens * dim, (start, end) =>
        {
            var qi = new T[dim];
            var p = new T[tokens];
            var weights = bf16Operands ? new T[tokens] : [];
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
                    if (bf16Operands) RoundedWeights(p, weights, max);
                    // exp(-inf - max) = 0 drops the padded keys.
                    TensorPrimitives.Subtract(p, max, p);
                    TensorPrimitives.Exp<T>(p, p);
                    T sum = TensorPrimitives.Sum<T>(p);
                    var w = bf16Operands ? weights : p;
                    for (int j = 0; j < tokens; j++)
                    {
                        if (w[j] != T.Zero) TensorPrimitives.MultiplyAdd(v.AsSpan(Row(s, b, j, h), dim), w[j], oi, oi);
                    }
                    TensorPrimitives.Divide(oi, sum, oi);
                    lse[(long)bh * tokens + i] = max + T.Log(sum);
                }
            }
        });
    }

    public static void Backward(T[] q, T[] k, T[] v, int[]? keyMask, T[] o, T[] lse, T[] dO, T[]? dq, T[]? dk, T[]? dv, AttentionShape s,
        bool bf16Operands = false)
    {
        int tokens = s.Tokens, heads = s.Heads, dim = s.HeadDim;
        T scale = T.CreateChecked(s.Scale);
        if (bf16Operands) dO = Array.ConvertAll(dO, x => Operand(x, true));
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
                        T ds = Operand(p * (dp - delta), bf16Operands) * scale;
                        p = Operand(p, bf16Operands);
                        if (dq is not null) TensorPrimitives.MultiplyAdd(kRow, ds, dq.AsSpan(rowI, dim), dq.AsSpan(rowI, dim));
                        if (dk is not null) TensorPrimitives.MultiplyAdd(qRow, ds, dk.AsSpan(rowJ, dim), dk.AsSpan(rowJ, dim));
                        if (dv is not null) TensorPrimitives.MultiplyAdd(dORow, p, dv.AsSpan(rowJ, dim), dv.AsSpan(rowJ, dim));
                    }
                }
            }
        });
    }

    /// <summary>The key tile of the CUDA kernels, over which bf16's rounded probabilities share one running maximum.</summary>
    public const int Bf16RoundingTile = 64;

    // bf16's weights of the value rows, from a row's scores (-inf for padded keys) and their maximum: p is rounded to BF16
    // relative to the running maximum after each tile of 64 keys, as the kernels round it, then brought to the row's
    // maximum unrounded (the kernels rescale their sums so).
    private static void RoundedWeights(T[] scores, T[] weights, T max)
    {
        T running = T.NegativeInfinity;
        for (int start = 0; start < scores.Length; start += Bf16RoundingTile)
        {
            int end = Math.Min(start + Bf16RoundingTile, scores.Length);
            for (int j = start; j < end; j++) running = T.Max(running, scores[j]);
            T tileBase = T.IsNegativeInfinity(running) ? T.Zero : running;
            T toRowMax = T.Exp(tileBase - max);
            for (int j = start; j < end; j++) weights[j] = Operand(T.Exp(scores[j] - tileBase), true) * toRowMax;
        }
    }

    // A product's operand as bf16's tensor cores read it: rounded to BF16 when asked (T is then float).
    private static T Operand(T x, bool bf16) => bf16 ? T.CreateTruncating(BFloat16.Round(float.CreateTruncating(x))) : x;

    private static int Row(in AttentionShape s, int b, int token, int h) => (b * s.Tokens + token) * s.Heads * s.HeadDim + h * s.HeadDim;

    private static bool Kept(int[]? keyMask, int b, int tokens, int j) => keyMask is null || keyMask[b * tokens + j] != 0;
}
