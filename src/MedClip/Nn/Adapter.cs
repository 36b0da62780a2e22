using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>
/// Houlsby et al.'s (2019) bottleneck adapter on a sub-layer's output z: adapter(z) = z + W_up GELU(W_down z + b_down) + b_up,
/// W_down [dim, width], W_up [width, dim]. The up-projection starts near zero (std <see cref="UpStd"/>, zero bias), so a
/// fresh adapter is nearly the identity and a pretrained tower computes what it did. Parameter names: down.{weight,bias},
/// up.{weight,bias}.
/// </summary>
public sealed class Adapter : Module
{
    /// <summary>Houlsby's near-identity start: the up-projection's weights are drawn with this small std.</summary>
    public const double UpStd = 1e-3;

    public Adapter(Init init, int width, int dim, double std)
    {
        if (dim <= 0) throw new ArgumentException($"An adapter's bottleneck dimension must be positive, not {dim}.");
        Down = Child("down", new Linear(init, width, dim, std));
        Up = Child("up", new Linear(init, dim, width, UpStd));
    }

    public Linear Down { get; }
    public Linear Up { get; }

    /// <summary>adapter(z) for a sub-layer's output z [..., width]; the layer adds its skip connection after it.</summary>
    public Tensor Forward(Tensor z) => Down.ForwardMlp(z, Activation.GeluErf, Up, residual: z);
}
