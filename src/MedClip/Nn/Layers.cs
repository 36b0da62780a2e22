using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>torch.nn.Linear: weight [out, in], optional bias [out].</summary>
public sealed class Linear : Module
{
    private readonly Precision _precision;

    public Linear(Init init, int inFeatures, int outFeatures, double std, bool bias = true)
    {
        _precision = init.Compute.Precision;
        Weight = Parameter("weight", init.Normal([outFeatures, inFeatures], std));
        Bias = bias ? Parameter("bias", init.Constant([outFeatures], 0)) : null;
    }

    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    public Tensor Forward(Tensor x) => Ops.Linear(x, Weight, Bias, precision: _precision);

    /// <summary>activation(Forward(x)), with the bias add and the activation fused (<see cref="Ops.LinearActivation"/>).</summary>
    public Tensor Forward(Tensor x, Backends.Activation activation) =>
        Ops.LinearActivation(x, Weight, Bias ?? throw new InvalidOperationException("A fused linear + activation needs a layer with a bias."), activation, _precision);

    /// <summary>
    /// output(activation(Forward(x))): a transformer MLP with this layer first (<see cref="Ops.Mlp"/>, which keeps the
    /// hidden layer in BF16 under bf16).
    /// </summary>
    public Tensor ForwardMlp(Tensor x, Backends.Activation activation, Linear output, Tensor? residual = null) =>
        Ops.Mlp(x, Weight, Bias ?? throw new InvalidOperationException("An MLP's first layer needs a bias."), output.Weight, output.Bias, activation,
            residual, _precision);

    /// <summary>residual + Forward(x) in one op (<see cref="Ops.Linear"/>): a residual branch's last layer.</summary>
    public Tensor ForwardResidual(Tensor x, Tensor residual) => Ops.Linear(x, Weight, Bias, residual, _precision);
}

/// <summary>torch.nn.LayerNorm over the last axis (HF names weight/bias).</summary>
public sealed class LayerNorm : Module
{
    public LayerNorm(Init init, int width, double eps)
    {
        Eps = eps;
        Weight = Parameter("weight", init.Constant([width], 1));
        Bias = Parameter("bias", init.Constant([width], 0));
    }

    public double Eps { get; }
    public Tensor Weight { get; }
    public Tensor Bias { get; }

    public Tensor Forward(Tensor x) => Ops.LayerNorm(x, Weight, Bias, Eps);

    /// <summary>(a + b, LN(a + b)) in one pass, for a residual stream that goes on (<see cref="Ops.AddLayerNormKeepingSum"/>).</summary>
    public (Tensor Sum, Tensor Normalized) ForwardKeepingSum(Tensor a, Tensor b) => Ops.AddLayerNormKeepingSum(a, b, Weight, Bias, Eps);
}

/// <summary>torch.nn.Embedding: table [count, width].</summary>
public sealed class Embedding : Module
{
    public Embedding(Init init, int count, int width, double std)
    {
        Weight = Parameter("weight", init.Normal([count, width], std));
    }

    /// <summary>An embedding starting from the given [count, width] table.</summary>
    public Embedding(Tensor weight)
    {
        Weight = Parameter("weight", weight);
    }

    public Tensor Weight { get; }

    public Tensor Forward(Tensor ids) => Ops.Embedding(Weight, ids);
}

/// <summary>A named group of modules with no computation, mirroring a level of HF's module tree.</summary>
public sealed class ModuleGroup : Module
{
    public T Add<T>(string name, T module) where T : Module => Child(name, module);

    public Tensor AddParameter(string name, Tensor tensor) => Parameter(name, tensor);
}
