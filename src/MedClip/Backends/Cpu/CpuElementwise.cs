using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's copies, axpy-like updates and bias adds.
public sealed partial class CpuBackend
{
    public void CopyBlocks(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate) =>
        Dispatch(source, new CopyBlocksOp(source, sourceOffset, sourceStride, destination, destinationOffset, destinationStride, blockLength, blocks, accumulate));

    private readonly struct CopyBlocksOp(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuElementwise<T>.CopyBlocks(of[source], sourceOffset, sourceStride, of[destination], destinationOffset, destinationStride, blockLength, blocks, accumulate);
    }

    public void AddScaled(Tensor a, double alpha, Tensor b, double beta, Tensor y)
    {
        SameLength(a, b);
        SameLength(a, y);
        Dispatch(a, new AddScaledOp(a, alpha, b, beta, y));
    }

    private readonly struct AddScaledOp(Tensor a, double alpha, Tensor b, double beta, Tensor y) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuElementwise<T>.AddScaled(of[a], T.CreateTruncating(alpha), of[b], T.CreateTruncating(beta), of[y], a.Length);
    }

    public void Axpy(double alpha, Tensor x, Tensor y)
    {
        SameLength(x, y);
        Dispatch(x, new AxpyOp(alpha, x, y));
    }

    private readonly struct AxpyOp(double alpha, Tensor x, Tensor y) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuElementwise<T>.Axpy(T.CreateTruncating(alpha), of[x], of[y], x.Length);
    }

    public void Scale(Tensor x, double alpha) => Dispatch(x, new ScaleOp(x, alpha));

    private readonly struct ScaleOp(Tensor x, double alpha) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.Scale(of[x], T.CreateTruncating(alpha), x.Length);
    }

    public void ScaleByTensor(Tensor x, Tensor factor) => Scale(x, factor.Item());

    public void AddBias(Tensor x, Tensor bias, int rows, int cols, Tensor? y = null)
    {
        if (y is null) Dispatch(x, new AddBiasOp(x, bias, rows, cols));
        else AddBiasToBf16(x, bias, y, rows, cols);
    }

    private readonly struct AddBiasOp(Tensor x, Tensor bias, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.AddBias(of[x], of[bias], rows, cols);
    }

    public void AddBiasResidual(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols) =>
        Dispatch(x, new AddBiasResidualOp(x, bias, residual, y, rows, cols));

    private readonly struct AddBiasResidualOp(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuElementwise<T>.AddBiasResidual(of[x], of[bias], of[residual], of[y], rows, cols);
    }

    // y = bf16(x + bias), x only read: the F32 sums of AddBias, rounded.
    private static void AddBiasToBf16(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        if (x.DType != DType.F32 || bias.DType != DType.F32 || y.DType != DType.BF16)
            throw new ArgumentException($"AddBias: an output y is BF16 and x and bias F32, not {x.Describe()}, {bias.Describe()} and {y.Describe()}.");
        var (wide, b, rounded) = (D<float>(x), D<float>(bias), D<ushort>(y));
        CpuParallel.ForRows(rows, cols, (start, end) =>
        {
            var sum = new float[cols];
            for (int r = start; r < end; r++)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(wide.AsSpan(r * cols, cols), b.AsSpan(0, cols), sum);
                var row = rounded.AsSpan(r * cols, cols);
                for (int c = 0; c < cols; c++) row[c] = BFloat16.FromSingle(sum[c]);
            }
        });
    }

    // The three ops in turn: the same values, the sums in BiasBackward's order.
    public void BiasBackwardEpilogue(Tensor dy, Tensor dBias, Tensor? dResidual, Tensor? dyBf16, int rows, int cols)
    {
        if (dyBf16 is not null && (dy.DType != DType.F32 || dyBf16.DType != DType.BF16))
            throw new ArgumentException($"BiasBackwardEpilogue: a BF16 copy is of an F32 dy, not {dy.Describe()} into {dyBf16.Describe()}.");
        BiasBackward(dy, dBias, rows, cols);
        if (dResidual is not null) Axpy(1, dy, dResidual);
        if (dyBf16 is not null) Cast(dy, dyBf16);
    }

    public void BiasBackward(Tensor dy, Tensor dBias, int rows, int cols) => Dispatch(dy, new BiasBackwardOp(dy, dBias, rows, cols));

    private readonly struct BiasBackwardOp(Tensor dy, Tensor dBias, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuElementwise<T>.BiasBackward(of[dy], of[dBias], rows, cols);
    }
}

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
