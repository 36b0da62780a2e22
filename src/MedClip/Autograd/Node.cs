using MedClip.Tensors;

namespace MedClip.Autograd;

/// <summary>
/// One recorded op: its inputs' slots on the tape and the closure that turns the output's gradient into input gradients
/// (+=). The closure holds whatever input values its backward reads.
/// </summary>
public sealed class Node
{
    private Action<Tensor>? _backward;

    internal Node(string op, GradSlot[] inputs, Action<Tensor> backward)
    {
        Op = op;
        Inputs = inputs;
        _backward = backward;
    }

    public string Op { get; }
    public GradSlot[] Inputs { get; private set; }

    internal void RunBackward(Tensor outputGrad)
    {
        var backward = _backward ?? throw new InvalidOperationException(
            $"Backward through '{Op}' a second time: its graph was freed by the first Backward(); run the forward again.");
        backward(outputGrad);
    }

    /// <summary>Drops the closure and the inputs so the activations it captured can be collected.</summary>
    internal void Free()
    {
        _backward = null;
        Inputs = [];
    }
}
