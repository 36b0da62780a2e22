using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's layer norm: F32 and F64 through the one dtype dispatch; a BF16 y computed in F32 and rounded.
public sealed partial class CpuBackend
{
    public void LayerNormForward(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, double eps)
    {
        if (y.DType == DType.BF16)
        {
            var wide = new float[y.Length];
            CpuLayerNorm<float>.Forward(D<float>(x), D<float>(gamma), D<float>(beta), wide, D<float>(mean), D<float>(rstd), rows, cols, (float)eps);
            RoundInto(wide, y);
        }
        else Dispatch(x, new LayerNormForwardOp(x, gamma, beta, y, mean, rstd, rows, cols, eps));
    }

    private readonly struct LayerNormForwardOp(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, double eps) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuLayerNorm<T>.Forward(of[x], of[gamma], of[beta], of[y], of[mean], of[rstd], rows, cols, T.CreateTruncating(eps));
    }

    public void LayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma, Tensor dBeta, int rows, int cols) =>
        Dispatch(x, new LayerNormBackwardOp(dy, x, gamma, mean, rstd, dx, dGamma, dBeta, rows, cols));

    private readonly struct LayerNormBackwardOp(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma, Tensor dBeta,
        int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuLayerNorm<T>.Backward(of[dy], of[x], of[gamma], of[mean], of[rstd], of[dx], of[dGamma], of[dBeta], rows, cols);
    }

    public void AddLayerNormForward(Tensor a, Tensor b, Tensor? sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
        int rows, int cols, double eps)
    {
        if (y.DType == DType.BF16)
        {
            if (sum is null) throw new ArgumentException("AddLayerNormForward: a BF16 output needs the sum kept (it cannot hold the F32 sum).");
            var wide = new float[y.Length];
            CpuLayerNorm<float>.AddForward(D<float>(a), D<float>(b), D<float>(sum), D<float>(gamma), D<float>(beta), wide, D<float>(mean), D<float>(rstd), rows, cols, (float)eps);
            RoundInto(wide, y);
        }
        else Dispatch(a, new AddLayerNormForwardOp(a, b, sum, gamma, beta, y, mean, rstd, rows, cols, eps));
    }

    private readonly struct AddLayerNormForwardOp(Tensor a, Tensor b, Tensor? sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
        int rows, int cols, double eps) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuLayerNorm<T>.AddForward(of[a], of[b], of.Optional(sum), of[gamma], of[beta], of[y], of[mean], of[rstd], rows, cols, T.CreateTruncating(eps));
    }

    public void AddLayerNormBackward(Tensor dy, Tensor a, Tensor b, Tensor gamma, Tensor mean, Tensor rstd, Tensor? da, Tensor? db,
        Tensor dGamma, Tensor dBeta, int rows, int cols) =>
        Dispatch(a, new AddLayerNormBackwardOp(dy, a, b, gamma, mean, rstd, da, db, dGamma, dBeta, rows, cols));

    private readonly struct AddLayerNormBackwardOp(Tensor dy, Tensor a, Tensor b, Tensor gamma, Tensor mean, Tensor rstd, Tensor? da, Tensor? db,
        Tensor dGamma, Tensor dBeta, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuLayerNorm<T>.AddBackward(of[dy], of[a], of[b], of[gamma], of[mean], of[rstd], of.Optional(da), of.Optional(db), of[dGamma], of[dBeta], rows, cols);
    }
}

/// <summary>
/// Layer norm over the last axis, alone or fused with the residual add before it (s = a + b, y = LN(s)). Forward saves
/// mean and rstd per row; backward recomputes xhat from them (the fused one from a + b) and adds dx into the input's
/// gradient (the fused one into each summand's). dGamma/dBeta are reduced per task into private buffers and added in
/// task order, so rows run in parallel and results stay deterministic. The fused ops normalise the same row values with
/// the same calls as the unfused add then layer norm, so their numbers are those of the unfused ops exactly.
/// </summary>
internal static class CpuLayerNorm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] x, T[] gamma, T[] beta, T[] y, T[] mean, T[] rstd, int rows, int cols, T eps) =>
        Forward(x, null, null, gamma, beta, y, mean, rstd, rows, cols, eps);

    public static void Backward(T[] dy, T[] x, T[] gamma, T[] mean, T[] rstd, T[] dx, T[] dGamma, T[] dBeta, int rows, int cols) =>
        Backward(dy, x, null, gamma, mean, rstd, dx, null, dGamma, dBeta, rows, cols);

    /// <summary>s = a + b (into sum when given, else into y, which the normalisation then overwrites); y = LN(s).</summary>
    public static void AddForward(T[] a, T[] b, T[]? sum, T[] gamma, T[] beta, T[] y, T[] mean, T[] rstd, int rows, int cols, T eps) =>
        Forward(a, b, sum, gamma, beta, y, mean, rstd, rows, cols, eps);

    /// <summary>LN backward on s = a + b (recomputed), dx added into da and db where given.</summary>
    public static void AddBackward(T[] dy, T[] a, T[] b, T[] gamma, T[] mean, T[] rstd, T[]? da, T[]? db, T[] dGamma, T[] dBeta,
        int rows, int cols) =>
        Backward(dy, a, b, gamma, mean, rstd, da, db, dGamma, dBeta, rows, cols);

    // The normalised input is a, or a + b when b is given.
    private static void Forward(T[] a, T[]? b, T[]? sum, T[] gamma, T[] beta, T[] y, T[] mean, T[] rstd, int rows, int cols, T eps) =>
        CpuParallel.ForRows(rows, cols * 4L, (start, end) =>
        {
            T n = T.CreateChecked(cols);
            var g = gamma.AsSpan(0, cols);
            var bt = beta.AsSpan(0, cols);
            for (int r = start; r < end; r++)
            {
                ReadOnlySpan<T> xr = a.AsSpan(r * cols, cols);
                var yr = y.AsSpan(r * cols, cols);
                if (b is not null)
                {
                    var sr = (sum ?? y).AsSpan(r * cols, cols);
                    TensorPrimitives.Add(xr, b.AsSpan(r * cols, cols), sr);
                    xr = sr;
                }
                T mu = TensorPrimitives.Sum(xr) / n;
                TensorPrimitives.Subtract(xr, mu, yr);
                T variance = TensorPrimitives.SumOfSquares<T>(yr) / n;
                T rs = T.One / T.Sqrt(variance + eps);
                TensorPrimitives.Multiply(yr, rs, yr);
                TensorPrimitives.FusedMultiplyAdd(yr, g, bt, yr);
                mean[r] = mu;
                rstd[r] = rs;
            }
        });

    // The normalised input is a, or a + b when b is given; dx goes into dx1 and dx2 where given.
    private static void Backward(T[] dy, T[] a, T[]? b, T[] gamma, T[] mean, T[] rstd, T[]? dx1, T[]? dx2, T[] dGamma, T[] dBeta,
        int rows, int cols) =>
        CpuParallel.ReduceRows<T>(rows, cols * 8L, cols, [dGamma, dBeta], (start, end, partial) =>
        {
            T n = T.CreateChecked(cols);
            var xhat = new T[cols];
            var g = new T[cols];
            for (int r = start; r < end; r++)
            {
                var ar = a.AsSpan(r * cols, cols);
                var dyr = dy.AsSpan(r * cols, cols);
                if (b is null) TensorPrimitives.Subtract(ar, mean[r], xhat);
                else
                {
                    TensorPrimitives.Add(ar, b.AsSpan(r * cols, cols), xhat);
                    TensorPrimitives.Subtract<T>(xhat, mean[r], xhat);
                }
                TensorPrimitives.Multiply<T>(xhat, rstd[r], xhat);
                TensorPrimitives.Multiply(dyr, gamma.AsSpan(0, cols), g);
                T meanG = TensorPrimitives.Sum<T>(g) / n;
                T meanGx = TensorPrimitives.Dot<T>(g, xhat) / n;
                // dx += rstd * (g - meanG - xhat * meanGx)
                TensorPrimitives.MultiplyAdd<T>(xhat, -meanGx, g, g);
                TensorPrimitives.Subtract<T>(g, meanG, g);
                foreach (var dx in (ReadOnlySpan<T[]?>)[dx1, dx2])
                {
                    if (dx is null) continue;
                    var dxr = dx.AsSpan(r * cols, cols);
                    TensorPrimitives.MultiplyAdd<T>(g, rstd[r], dxr, dxr);
                }
                TensorPrimitives.MultiplyAdd<T>(dyr, xhat, partial[0], partial[0]);
                TensorPrimitives.Add<T>(dyr, partial[1], partial[1]);
            }
        });
}
