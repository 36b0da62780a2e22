using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// kernels/crossentropy.cu: cross-entropy along rows or columns, and CLIP's clamped logit scale.
public sealed partial class CudaBackend
{
    public void CrossEntropyForward(Tensor logits, Tensor targets, Tensor loss, int rows, int cols, bool alongColumns, double weight)
    {
        SameType(nameof(CrossEntropyForward), logits, loss);
        int count = alongColumns ? cols : rows;
        if (count == 0) return;
        Launch(Kernels.CrossentropyCu.CrossentropyForward(KernelType(logits), P(logits), P(targets), P(loss), rows, cols, alongColumns ? 1 : 0,
            weight, ErrorWord()), WarpRows(count));
    }

    public void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dLoss, Tensor dLogits, int rows, int cols, bool alongColumns,
        double weight)
    {
        SameType(nameof(CrossEntropyBackward), logits, dLoss, dLogits);
        int count = alongColumns ? cols : rows;
        if (count == 0) return;
        Launch(Kernels.CrossentropyCu.CrossentropyBackward(KernelType(logits), P(logits), P(targets), P(dLoss), P(dLogits), rows, cols,
            alongColumns ? 1 : 0, weight, ErrorWord()), WarpRows(count));
    }

    public void ExpScaleForward(Tensor x, Tensor logScale, Tensor y, double maxLogScale)
    {
        SameLength(x, y);
        SameType(nameof(ExpScaleForward), x, logScale, y);
        if (x.Length == 0) return;
        Launch(Kernels.CrossentropyCu.ExpScaleForward(KernelType(x), P(x), P(logScale), P(y), x.Length, maxLogScale), Blocks(x.Length));
    }

    public void ExpScaleBackward(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        SameType(nameof(ExpScaleBackward), x, logScale, dy, dx, dLogScale);
        if (x.Length == 0) return;
        Launch(Kernels.CrossentropyCu.ExpScaleBackward(KernelType(x), P(x), P(logScale), P(dy), P(dx), OptionalP(dLogScale), x.Length, maxLogScale),
            Blocks(x.Length));
    }
}
