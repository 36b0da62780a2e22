using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/softmax.cu: the attention softmax of the unfused attention: one warp a row, padded and causal keys masked.
public sealed partial class CudaBackend
{
    public void SoftmaxForward(Tensor x, Tensor? keyMask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal)
    {
        SameType(nameof(SoftmaxForward), x, y);
        if (keyMask is not null && keyMask.DType != DType.I32)
            throw new ArgumentException($"SoftmaxForward: the key mask {keyMask.Describe()} must be I32.");
        int rows = batch * heads * queries;
        if (rows == 0 || keys == 0) return;
        Launch(Kernels.SoftmaxCu.SoftmaxForward(KernelType(x), P(x), OptionalP(keyMask), P(y), rows, heads * queries, queries, keys, causal ? 1 : 0,
            scale), WarpRows(rows));
    }

    public void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale)
    {
        SameType(nameof(SoftmaxBackward), y, dy, dx);
        if (rows == 0 || keys == 0) return;
        Launch(Kernels.SoftmaxCu.SoftmaxBackward(KernelType(y), P(y), P(dy), P(dx), rows, keys, scale), WarpRows(rows));
    }
}
