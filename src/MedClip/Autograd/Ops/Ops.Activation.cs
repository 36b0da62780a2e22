using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Autograd;

public static partial class Ops
{
    /// <summary>A pointwise activation; dx += dy * f'(x).</summary>
    public static Tensor Activate(Tensor x, Activation kind)
    {
        var y = EmptyLike(x);
        x.Backend.ActivationForward(kind, x, y);
        return Tape.Record(kind.ToString(), y, [x], dy => x.Backend.ActivationBackward(kind, x, dy, x.GradOrZeros()));
    }

    /// <summary>The activation named by a Hugging Face config's hidden_act.</summary>
    public static Activation ParseActivation(string hiddenAct) => hiddenAct switch
    {
        "gelu" => Activation.GeluErf,
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => Activation.GeluTanh,
        "quick_gelu" => Activation.QuickGelu,
        "tanh" => Activation.Tanh,
        "relu" => Activation.Relu,
        _ => throw new NotSupportedException($"Activation '{hiddenAct}' is not supported; use gelu, gelu_new, gelu_pytorch_tanh, quick_gelu, tanh or relu."),
    };
}
