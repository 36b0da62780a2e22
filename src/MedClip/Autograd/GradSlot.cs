using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Autograd;

/// <summary>
/// A tensor's place on the tape apart from its values: whether it wants a gradient, the gradient, and the op that
/// produced it. Nodes hold their inputs' slots, so a recorded op keeps an input's values alive only when its backward
/// captures the tensor itself because it reads them; an op that only routes a gradient to an input (an add, a residual,
/// a linear layer whose weight gradient reads a BF16 copy) captures the slot, and the values can go as soon as the
/// forward is done with them.
/// </summary>
public sealed class GradSlot
{
    private readonly IBackend _backend;
    private readonly Shape _shape;
    private readonly DType _dtype;

    internal GradSlot(IBackend backend, Shape shape, DType dtype) => (_backend, _shape, _dtype) = (backend, shape, dtype);

    /// <summary>True for leaves that want a gradient (parameters) and for results of ops on them.</summary>
    public bool RequiresGrad { get; set; }

    private Tensor? _grad;
    private bool _gradAllocatedHere;

    /// <summary>Accumulated gradient (same shape); backward adds into it, so it is cleared by the optimizer step.</summary>
    public Tensor? Grad
    {
        get => _grad;
        set => (_grad, _gradAllocatedHere) = (value, false);
    }

    /// <summary>The recorded op that produced the tensor, or null for a leaf.</summary>
    public Node? GradFn { get; internal set; }

    /// <summary>
    /// The gradient buffer, created as zeros on first use: in the tensor's dtype, but F32 for a BF16 activation (bf16
    /// mixed precision stores some activations in BF16 and keeps every gradient in F32).
    /// </summary>
    public Tensor GradOrZeros()
    {
        if (_grad is null) (_grad, _gradAllocatedHere) = (Tensor.Zeros(_backend, _shape, GradDType), true);
        return _grad;
    }

    /// <summary>
    /// Where a GEMM that covers the whole gradient writes it, and the GEMM's beta: the first write goes into a fresh,
    /// uncleared buffer with beta 0 (nothing to zero first or read back), later ones add with beta 1.
    /// </summary>
    public (Tensor Grad, double Beta) GradForGemm()
    {
        if (_grad is not null) return (_grad, 1);
        (_grad, _gradAllocatedHere) = (Tensor.Empty(_backend, _shape, GradDType), true);
        return (_grad, 0);
    }

    private DType GradDType => _dtype == DType.BF16 ? DType.F32 : _dtype;

    /// <summary>
    /// Drops an intermediate gradient once its node's backward has read it; a buffer <see cref="GradOrZeros"/> made is
    /// nobody else's, so its memory goes back to the scope at once (a step's peak then holds few gradients at a time).
    /// </summary>
    internal void DropIntermediateGrad()
    {
        if (_gradAllocatedHere) _grad!.Storage.ReleaseEarly();
        Grad = null;
    }
}
