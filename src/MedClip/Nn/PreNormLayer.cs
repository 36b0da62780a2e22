using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>
/// HF ViTLayer (pre-LN): h = x + Wo Attn(LN_before(x)); y = h + W2 act(W1 LN_after(h)).
/// Parameter names: layernorm_before, attention.attention.{query,key,value}, attention.output.dense, layernorm_after,
/// intermediate.dense, output.dense.
/// </summary>
public sealed class PreNormLayer : Module
{
    private readonly Backends.Activation _activation;

    public PreNormLayer(Init init, TransformerConfig config)
    {
        _activation = config.Activation;
        double std = config.InitializerRange;
        LayerNormBefore = Child("layernorm_before", new LayerNorm(init, config.Width, config.LayerNormEps));
        var attention = Child("attention", new ModuleGroup());
        Attention = attention.Add("attention", new SelfAttention(init, config));
        AttentionOutput = attention.Add("output", new ModuleGroup()).Add("dense", new Linear(init, config.Width, config.Width, std));
        LayerNormAfter = Child("layernorm_after", new LayerNorm(init, config.Width, config.LayerNormEps));
        Intermediate = Child("intermediate", new ModuleGroup()).Add("dense", new Linear(init, config.Width, config.IntermediateSize, std));
        Output = Child("output", new ModuleGroup()).Add("dense", new Linear(init, config.IntermediateSize, config.Width, std));
    }

    public LayerNorm LayerNormBefore { get; }
    public SelfAttention Attention { get; }
    public Linear AttentionOutput { get; }
    public LayerNorm LayerNormAfter { get; }
    public Linear Intermediate { get; }
    public Linear Output { get; }

    public Tensor Forward(Tensor x, Tensor? keyMask)
    {
        var h = Ops.Add(x, AttentionOutput.Forward(Attention.Forward(LayerNormBefore.Forward(x), keyMask)));
        var mlp = Output.Forward(Ops.Activate(Intermediate.Forward(LayerNormAfter.Forward(h)), _activation));
        return Ops.Add(h, mlp);
    }
}
