using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's row-wise L2 normalisation.
public sealed partial class CpuBackend
{
    public void L2NormalizeForward(Tensor x, Tensor y, Tensor norms, int rows, int cols) => Dispatch(x, new L2NormalizeForwardOp(x, y, norms, rows, cols));

    private readonly struct L2NormalizeForwardOp(Tensor x, Tensor y, Tensor norms, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuL2Normalize<T>.Forward(of[x], of[y], of[norms], rows, cols);
    }

    public void L2NormalizeBackward(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols) =>
        Dispatch(y, new L2NormalizeBackwardOp(y, dy, norms, dx, rows, cols));

    private readonly struct L2NormalizeBackwardOp(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuL2Normalize<T>.Backward(of[y], of[dy], of[norms], of[dx], rows, cols);
    }
}

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
