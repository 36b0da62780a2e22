using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/reduce.cu: column reductions for bias gradients: 32 columns a block, row slices along y, each slice added in order
// (deterministic). The global-norm reductions of gradient clipping are with the optimizer (CudaBackend.Ops.cs).
public sealed partial class CudaBackend
{
    public void BiasBackward(Tensor dy, Tensor dBias, int rows, int cols)
    {
        SameType(nameof(BiasBackward), dy, dBias);
        if (rows == 0 || cols == 0) return;
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.ReduceCu.BiasBackward(KernelType(dy), P(dy), P(dBias), rows, cols, rowsPerSlice), grid, (32, 8));
    }

    public void BiasBackwardEpilogue(Tensor dy, Tensor dBias, Tensor? dResidual, Tensor? dyBf16, int rows, int cols)
    {
        SameType(nameof(BiasBackwardEpilogue), dy, dBias, dResidual);
        if (dResidual is not null) SameLength(dy, dResidual);
        if (dyBf16 is not null)
        {
            SameLength(dy, dyBf16);
            if (dy.DType != DType.F32 || dyBf16.DType != DType.BF16)
                throw new ArgumentException($"BiasBackwardEpilogue: a BF16 copy is of an F32 dy, not {dy.Describe()} into {dyBf16.Describe()}.");
        }
        if (rows == 0 || cols == 0) return;
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.ReduceCu.BiasBackwardEpilogue(KernelType(dy), P(dy), P(dBias), OptionalP(dResidual), OptionalP(dyBf16), rows, cols,
            rowsPerSlice), grid, (32, 8));
    }
}
