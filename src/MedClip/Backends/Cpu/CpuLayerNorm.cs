using System.Numerics;
using System.Numerics.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>
/// Layer norm over the last axis. Forward saves mean and rstd per row; backward recomputes xhat from them.
/// dGamma/dBeta are reduced per task into private buffers and added in task order, so rows run in parallel and
/// results stay deterministic.
/// </summary>
internal static class CpuLayerNorm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(T[] x, T[] gamma, T[] beta, T[] y, T[] mean, T[] rstd, int rows, int cols, T eps) =>
        CpuParallel.ForRows(rows, cols * 4L, (start, end) =>
        {
            T n = T.CreateChecked(cols);
            var g = gamma.AsSpan(0, cols);
            var b = beta.AsSpan(0, cols);
            for (int r = start; r < end; r++)
            {
                var xr = x.AsSpan(r * cols, cols);
                var yr = y.AsSpan(r * cols, cols);
                T mu = TensorPrimitives.Sum<T>(xr) / n;
                TensorPrimitives.Subtract(xr, mu, yr);
                T variance = TensorPrimitives.SumOfSquares<T>(yr) / n;
                T rs = T.One / T.Sqrt(variance + eps);
                TensorPrimitives.Multiply(yr, rs, yr);
                TensorPrimitives.FusedMultiplyAdd(yr, g, b, yr);
                mean[r] = mu;
                rstd[r] = rs;
            }
        });

    public static void Backward(T[] dy, T[] x, T[] gamma, T[] mean, T[] rstd, T[] dx, T[] dGamma, T[] dBeta, int rows, int cols) =>
        CpuParallel.ReduceRows<T>(rows, cols * 8L, cols, [dGamma, dBeta], (start, end, partial) =>
        {
            T n = T.CreateChecked(cols);
            var xhat = new T[cols];
            var g = new T[cols];
            for (int r = start; r < end; r++)
            {
                var xr = x.AsSpan(r * cols, cols);
                var dyr = dy.AsSpan(r * cols, cols);
                var dxr = dx.AsSpan(r * cols, cols);
                TensorPrimitives.Subtract(xr, mean[r], xhat);
                TensorPrimitives.Multiply<T>(xhat, rstd[r], xhat);
                TensorPrimitives.Multiply(dyr, gamma.AsSpan(0, cols), g);
                T meanG = TensorPrimitives.Sum<T>(g) / n;
                T meanGx = TensorPrimitives.Dot<T>(g, xhat) / n;
                // dx += rstd * (g - meanG - xhat * meanGx)
                TensorPrimitives.MultiplyAdd<T>(xhat, -meanGx, g, g);
                TensorPrimitives.Subtract<T>(g, meanG, g);
                TensorPrimitives.MultiplyAdd<T>(g, rstd[r], dxr, dxr);
                TensorPrimitives.MultiplyAdd<T>(dyr, xhat, partial[0], partial[0]);
                TensorPrimitives.Add<T>(dyr, partial[1], partial[1]);
            }
        });
}
