using System.Numerics;
using System.Numerics.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>Fill, copies, scaled adds and bias: flat loops vectorised by TensorPrimitives and split over the cores.</summary>
internal static class CpuElementwise<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void AddScaled(T[] a, T alpha, T[] b, T beta, T[] y, long length) =>
        CpuParallel.ForElements(length, (s, e) =>
        {
            var ys = y.AsSpan(s, e - s);
            TensorPrimitives.Multiply(a.AsSpan(s, e - s), alpha, ys);
            TensorPrimitives.MultiplyAdd(b.AsSpan(s, e - s), beta, ys, ys);
        });

    public static void Axpy(T alpha, T[] x, T[] y, long length) =>
        CpuParallel.ForElements(length, (s, e) =>
        {
            var ys = y.AsSpan(s, e - s);
            TensorPrimitives.MultiplyAdd(x.AsSpan(s, e - s), alpha, ys, ys);
        });

    public static void Scale(T[] x, T alpha, long length) =>
        CpuParallel.ForElements(length, (s, e) => TensorPrimitives.Multiply(x.AsSpan(s, e - s), alpha, x.AsSpan(s, e - s)));

    public static void CopyBlocks(T[] source, long sourceOffset, long sourceStride, T[] destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate) =>
        CpuParallel.ForRows(blocks, blockLength, (start, end) =>
        {
            for (int i = start; i < end; i++)
            {
                var src = source.AsSpan((int)(sourceOffset + i * sourceStride), blockLength);
                var dst = destination.AsSpan((int)(destinationOffset + i * destinationStride), blockLength);
                if (accumulate) TensorPrimitives.Add(src, dst, dst);
                else src.CopyTo(dst);
            }
        });

    // Row by row the two adds of AddBias then Axpy (whose alpha of 1 makes its fused multiply-add an add).
    public static void AddBiasResidual(T[] x, T[] bias, T[] residual, T[] y, int rows, int cols) =>
        CpuParallel.ForRows(rows, cols, (start, end) =>
        {
            var b = bias.AsSpan(0, cols);
            for (int r = start; r < end; r++)
            {
                var row = y.AsSpan(r * cols, cols);
                TensorPrimitives.Add(x.AsSpan(r * cols, cols), b, row);
                TensorPrimitives.Add(row, residual.AsSpan(r * cols, cols), row);
            }
        });

    public static void AddBias(T[] x, T[] bias, int rows, int cols) =>
        CpuParallel.ForRows(rows, cols, (start, end) =>
        {
            var b = bias.AsSpan(0, cols);
            for (int r = start; r < end; r++)
            {
                var row = x.AsSpan(r * cols, cols);
                TensorPrimitives.Add(row, b, row);
            }
        });

    // Parallel over column blocks so that no two tasks add into the same dBias element.
    public static void BiasBackward(T[] dy, T[] dBias, int rows, int cols)
    {
        const int columnBlock = 256;
        int blocks = (cols + columnBlock - 1) / columnBlock;
        CpuParallel.ForRows(blocks, (long)rows * columnBlock, (start, end) =>
        {
            int c0 = start * columnBlock, c1 = Math.Min(cols, end * columnBlock);
            var db = dBias.AsSpan(c0, c1 - c0);
            for (int r = 0; r < rows; r++) TensorPrimitives.Add(dy.AsSpan(r * cols + c0, c1 - c0), db, db);
        });
    }
}
