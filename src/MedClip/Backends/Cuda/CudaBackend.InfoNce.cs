using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/infonce.cu: the fused symmetric InfoNCE of square logits, forward and backward in one launch.
public sealed partial class CudaBackend
{
    public void InfoNceForwardBackward(Tensor logits, Tensor loss, Tensor dLogits, int n)
    {
        SameType(nameof(InfoNceForwardBackward), logits, loss, dLogits);
        if (logits.Length != (long)n * n || dLogits.Length != logits.Length || loss.Length < 1)
            throw new ArgumentException($"InfoNceForwardBackward: logits {logits.Describe()} and dLogits {dLogits.Describe()} must be [{n}, {n}] and loss {loss.Describe()} one element.");
        if (n == 0) return;
        var stats = Tensor.Zeros(this, [2 * n], logits.DType);
        Launch(Kernels.InfonceCu.Infonce(KernelType(logits), P(logits), P(loss), P(dLogits), P(stats), n), (1, 1));
    }
}
