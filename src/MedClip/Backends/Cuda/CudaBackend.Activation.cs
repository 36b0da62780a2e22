using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/activation.cu: activations alone and fused with the bias add before them; bf16's MLP hidden layer in BF16.
public sealed partial class CudaBackend
{
    public void ActivationForward(Activation kind, Tensor x, Tensor y)
    {
        SameLength(x, y);
        SameType(nameof(ActivationForward), x, y);
        if (x.Length == 0) return;
        if (Vectorizable(x, y))
            Launch(Kernels.ActivationCu.ActivationForwardF32Vec4((int)kind, P(x), P(y), x.Length / 4), Blocks(x.Length / 4));
        else
            Launch(Kernels.ActivationCu.ActivationForward(KernelType(x), (int)kind, P(x), P(y), x.Length), Blocks(x.Length));
    }

    public void ActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        SameType(nameof(ActivationBackward), x, dy, dx);
        if (x.Length == 0) return;
        if (Vectorizable(x, dy, dx))
            Launch(Kernels.ActivationCu.ActivationBackwardF32Vec4((int)kind, P(x), P(dy), P(dx), x.Length / 4), Blocks(x.Length / 4));
        else
            Launch(Kernels.ActivationCu.ActivationBackward(KernelType(x), (int)kind, P(x), P(dy), P(dx), x.Length), Blocks(x.Length));
    }

    public void BiasActivationForward(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols, Tensor? pre = null)
    {
        if (pre is not null)
        {
            CheckBf16Hidden(nameof(BiasActivationForward), x, bias, pre, y);
            if (rows == 0 || cols == 0) return;
            Launch(Kernels.ActivationCu.BiasActivationForwardF32ToBf16((int)kind, P(x), P(bias), P(pre), P(y), rows, cols), RowGrid(rows, cols));
            return;
        }
        SameLength(x, y);
        SameType(nameof(BiasActivationForward), x, bias, y);
        if (rows == 0 || cols == 0) return;
        if (cols % 4 == 0 && Vectorizable(x, bias, y))
            Launch(Kernels.ActivationCu.BiasActivationForwardF32Vec4((int)kind, P(x), P(bias), P(y), rows, cols / 4), RowGrid(rows, cols / 4));
        else
            Launch(Kernels.ActivationCu.BiasActivationForward(KernelType(x), (int)kind, P(x), P(bias), P(y), rows, cols), RowGrid(rows, cols));
    }

    public void BiasActivationBackward(Activation kind, Tensor kept, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        if (kept.DType == DType.BF16)
        {
            CheckBf16Hidden(nameof(BiasActivationBackward), dy, dBias, kept, dx);
            if (rows == 0 || cols == 0) return;
            var (bf16Grid, bf16RowsPerSlice) = ColumnSlices(rows, cols);
            Launch(Kernels.ActivationCu.BiasActivationBackwardBf16((int)kind, P(kept), P(dy), P(dx), P(dBias), rows, cols, bf16RowsPerSlice),
                bf16Grid, (32, 8));
            return;
        }
        SameLength(kept, dy);
        SameLength(kept, dx);
        SameType(nameof(BiasActivationBackward), kept, dy, dx, dBias);
        if (rows == 0 || cols == 0) return;
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.ActivationCu.BiasActivationBackward(KernelType(kept), P(kept), P(dy), P(dx), P(dBias), rows, cols, rowsPerSlice),
            grid, (32, 8));
    }

    // The F32 operands (a [rows, cols] matrix and a [cols] vector) and the two BF16 [rows, cols] ones of the BF16 hidden layer.
    private static void CheckBf16Hidden(string op, Tensor full, Tensor vector, Tensor first, Tensor second)
    {
        if (full.DType != DType.F32 || vector.DType != DType.F32 || first.DType != DType.BF16 || second.DType != DType.BF16)
            throw new ArgumentException($"{op}: needs F32 {full.Describe()} and {vector.Describe()} with BF16 {first.Describe()} and {second.Describe()}.");
        SameLength(full, first, op);
        SameLength(full, second, op);
    }
}
