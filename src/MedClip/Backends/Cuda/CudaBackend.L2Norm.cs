using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/l2norm.cu: row-wise L2 normalisation and its gradient: one warp a row.
public sealed partial class CudaBackend
{
    public void L2NormalizeForward(Tensor x, Tensor y, Tensor norms, int rows, int cols)
    {
        SameType(nameof(L2NormalizeForward), x, y, norms);
        if (rows == 0) return;
        Launch(Kernels.L2normCu.L2normForward(KernelType(x), P(x), P(y), P(norms), rows, cols), WarpRows(rows));
    }

    public void L2NormalizeBackward(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols)
    {
        SameType(nameof(L2NormalizeBackward), y, dy, norms, dx);
        if (rows == 0) return;
        Launch(Kernels.L2normCu.L2normBackward(KernelType(y), P(y), P(dy), P(norms), P(dx), rows, cols), WarpRows(rows));
    }
}
