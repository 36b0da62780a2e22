using System.Numerics;
using System.Numerics.Tensors;

namespace MedClip.Backends.Cpu;

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
