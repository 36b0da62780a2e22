using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/elementwise.cu: copies, axpy-like updates and bias adds over flat or [rows, cols] tensors: grid-stride loops, float4
// kernels for F32 where lengths and addresses allow.
public sealed partial class CudaBackend
{
    public void CopyBlocks(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate)
    {
        SameType(nameof(CopyBlocks), source, destination);
        if (blocks <= 0 || blockLength <= 0) return;
        long sourceEnd = sourceOffset + (blocks - 1) * sourceStride + blockLength;
        long destinationEnd = destinationOffset + (blocks - 1) * destinationStride + blockLength;
        if (sourceOffset < 0 || destinationOffset < 0 || sourceEnd > source.Length || destinationEnd > destination.Length)
            throw new ArgumentException($"CopyBlocks: {blocks} runs of {blockLength} reach past {source.Describe()} or {destination.Describe()}.");
        var grid = ((uint)Math.Min((blockLength + Threads - 1) / Threads, 64), (uint)Math.Min(blocks, 65535));
        Launch(Kernels.ElementwiseCu.CopyBlocks(KernelType(source), P(source), sourceOffset, sourceStride, P(destination), destinationOffset,
            destinationStride, blockLength, blocks, accumulate ? 1 : 0), grid);
    }

    public void AddScaled(Tensor a, double alpha, Tensor b, double beta, Tensor y)
    {
        SameLength(a, b);
        SameLength(a, y);
        SameType(nameof(AddScaled), a, b, y);
        if (a.Length == 0) return;
        if (Vectorizable(a, b, y))
            Launch(Kernels.ElementwiseCu.AddScaledF32Vec4(P(a), (float)alpha, P(b), (float)beta, P(y), a.Length / 4), Blocks(a.Length / 4));
        else
            Launch(Kernels.ElementwiseCu.AddScaled(KernelType(a), P(a), alpha, P(b), beta, P(y), a.Length), Blocks(a.Length));
    }

    public void Axpy(double alpha, Tensor x, Tensor y)
    {
        SameLength(x, y);
        SameType(nameof(Axpy), x, y);
        if (x.Length == 0) return;
        if (Vectorizable(x, y))
            Launch(Kernels.ElementwiseCu.AxpyF32Vec4((float)alpha, P(x), P(y), x.Length / 4), Blocks(x.Length / 4));
        else
            Launch(Kernels.ElementwiseCu.Axpy(KernelType(x), alpha, P(x), P(y), x.Length), Blocks(x.Length));
    }

    public void Scale(Tensor x, double alpha)
    {
        if (x.Length == 0) return;
        Launch(Kernels.ElementwiseCu.Scale(KernelType(x), P(x), alpha, x.Length), Blocks(x.Length));
    }

    public void ScaleByTensor(Tensor x, Tensor factor)
    {
        SameType(nameof(ScaleByTensor), x, factor);
        if (x.Length == 0) return;
        Launch(Kernels.ElementwiseCu.ScaleByTensor(KernelType(x), P(x), P(factor), x.Length), Blocks(x.Length));
    }


    public void AddBias(Tensor x, Tensor bias, int rows, int cols, Tensor? y = null)
    {
        if (y is not null)
        {
            AddBiasToBf16(x, bias, y, rows, cols);
            return;
        }
        SameType(nameof(AddBias), x, bias);
        if (rows == 0 || cols == 0) return;
        var grid = ((uint)Math.Min((cols + Threads - 1) / Threads, 64), (uint)Math.Min(rows, 65535));
        Launch(Kernels.ElementwiseCu.AddBias(KernelType(x), P(x), P(bias), rows, cols), grid);
    }

    public void AddBiasResidual(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols)
    {
        SameType(nameof(AddBiasResidual), x, bias, residual, y);
        SameLength(x, residual);
        SameLength(x, y);
        if (rows == 0 || cols == 0) return;
        if (cols % 4 == 0 && Vectorizable(x, bias, residual, y))
            Launch(Kernels.ElementwiseCu.AddBiasResidualF32Vec4(P(x), P(bias), P(residual), P(y), rows, cols / 4), RowGrid(rows, cols / 4));
        else
            Launch(Kernels.ElementwiseCu.AddBiasResidual(KernelType(x), P(x), P(bias), P(residual), P(y), rows, cols), RowGrid(rows, cols));
    }

    // y = bf16(x + bias), x only read.
    private void AddBiasToBf16(Tensor x, Tensor bias, Tensor y, int rows, int cols)
    {
        SameLength(x, y, nameof(AddBias));
        if (x.DType != DType.F32 || bias.DType != DType.F32 || y.DType != DType.BF16)
            throw new ArgumentException($"AddBias: an output y is BF16 and x and bias F32, not {x.Describe()}, {bias.Describe()} and {y.Describe()}.");
        if (rows == 0 || cols == 0) return;
        // Four BF16 values are 8 bytes: aligned wherever the F32 rows are (tensors start on arena blocks).
        if (cols % 4 == 0 && Vectorizable(x, bias) && DeviceStorage(y).Pointer % 8 == 0)
            Launch(Kernels.ElementwiseCu.AddBiasToBf16Vec4(P(x), P(bias), P(y), rows, cols / 4), RowGrid(rows, cols / 4));
        else
            Launch(Kernels.ElementwiseCu.AddBiasToBf16(P(x), P(bias), P(y), rows, cols), RowGrid(rows, cols));
    }
}
