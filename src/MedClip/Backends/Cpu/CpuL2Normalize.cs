using System.Numerics;
using System.Numerics.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>Row-wise L2 normalisation y = x / max(||x||, 1e-12), as torch.nn.functional.normalize.</summary>
internal static class CpuL2Normalize<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private static readonly T MinNorm = T.CreateChecked(1e-12);

    public static void Forward(T[] x, T[] y, T[] norms, int rows, int cols) =>
        CpuParallel.ForRows(rows, cols * 2L, (start, end) =>
        {
            for (int r = start; r < end; r++)
            {
                var xr = x.AsSpan(r * cols, cols);
                T norm = T.Max(T.Sqrt(TensorPrimitives.SumOfSquares<T>(xr)), MinNorm);
                norms[r] = norm;
                TensorPrimitives.Divide(xr, norm, y.AsSpan(r * cols, cols));
            }
        });

    /// <summary>dx += (dy - y * sum(dy*y)) / norm (the clamped branch, norm = 1e-12, is treated the same).</summary>
    public static void Backward(T[] y, T[] dy, T[] norms, T[] dx, int rows, int cols) =>
        CpuParallel.ForRows(rows, cols * 4L, (start, end) =>
        {
            var tmp = new T[cols];
            for (int r = start; r < end; r++)
            {
                var yr = y.AsSpan(r * cols, cols);
                var dyr = dy.AsSpan(r * cols, cols);
                T dot = TensorPrimitives.Dot<T>(yr, dyr);
                TensorPrimitives.MultiplyAdd<T>(yr, -dot, dyr, tmp);
                TensorPrimitives.MultiplyAdd<T>(tmp, T.One / norms[r], dx.AsSpan(r * cols, cols), dx.AsSpan(r * cols, cols));
            }
        });
}
