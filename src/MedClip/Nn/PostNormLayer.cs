using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>
/// HF BertLayer (post-LN): a = LN1(x + Wo Attn(x)); y = LN2(a + W2 act(W1 a)).
/// Parameter names: attention.self.{query,key,value}, attention.output.{dense,LayerNorm}, intermediate.dense,
/// output.{dense,LayerNorm}. With adapters (<see cref="AddAdapters"/>), Houlsby's placement: each sub-layer's output
/// passes its adapter before the skip connection and the layer norm, a = LN1(x + A1(Wo Attn(x))),
/// y = LN2(a + A2(W2 act(W1 a))); the adapters are attention.output.adapter and output.adapter.
/// </summary>
public sealed class PostNormLayer : Module
{
    private readonly Backends.Activation _activation;
    private readonly TransformerConfig _config;

    public PostNormLayer(Init init, TransformerConfig config)
    {
        (_config, _activation) = (config, config.Activation);
        double std = config.InitializerRange;
        var attention = Child("attention", new ModuleGroup());
        Attention = attention.Add("self", new SelfAttention(init, config));
        var attentionOutput = attention.Add("output", new ModuleGroup());
        AttentionOutput = attentionOutput.Add("dense", new Linear(init, config.Width, config.Width, std));
        AttentionLayerNorm = attentionOutput.Add("LayerNorm", new LayerNorm(init, config.Width, config.LayerNormEps));
        Intermediate = Child("intermediate", new ModuleGroup()).Add("dense", new Linear(init, config.Width, config.IntermediateSize, std));
        var output = Child("output", new ModuleGroup());
        Output = output.Add("dense", new Linear(init, config.IntermediateSize, config.Width, std));
        OutputLayerNorm = output.Add("LayerNorm", new LayerNorm(init, config.Width, config.LayerNormEps));
    }

    public SelfAttention Attention { get; }
    public Linear AttentionOutput { get; }
    public LayerNorm AttentionLayerNorm { get; }
    public Linear Intermediate { get; }
    public Linear Output { get; }
    public LayerNorm OutputLayerNorm { get; }
    public Adapter? AttentionAdapter { get; private set; }
    public Adapter? MlpAdapter { get; private set; }

    /// <summary>Inserts a bottleneck adapter of <paramref name="dim"/> after the attention and after the MLP.</summary>
    public void AddAdapters(Init init, int dim)
    {
        if (AttentionAdapter is not null) throw new InvalidOperationException("This layer already has adapters.");
        AttentionAdapter = ChildAt("attention.output.adapter", new Adapter(init, _config.Width, dim, _config.InitializerRange));
        MlpAdapter = ChildAt("output.adapter", new Adapter(init, _config.Width, dim, _config.InitializerRange));
    }

    public Tensor Forward(Tensor x, Tensor? keyMask)
    {
        // Each residual add keeps its sum for the layer norm's backward, so that neither addend need outlive the forward:
        // x, a and the branch outputs are F32, and under bf16 the linear layers keep only their BF16 copies of x and a.
        var attention = AttentionOutput.Forward(Attention.Forward(x, keyMask));
        var (_, a) = AttentionLayerNorm.ForwardKeepingSum(x, AttentionAdapter?.Forward(attention) ?? attention);
        var mlp = Intermediate.ForwardMlp(a, _activation, Output);
        return OutputLayerNorm.ForwardKeepingSum(a, MlpAdapter?.Forward(mlp) ?? mlp).Normalized;
    }
}
