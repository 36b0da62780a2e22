using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>Where a pre-LN layer's parts live in an HF module tree (ViTLayer or CLIPEncoderLayer).</summary>
public sealed record PreNormLayerNames(string LayerNormBefore, string Attention, (string Query, string Key, string Value) Projections,
    string AttentionOutput, string LayerNormAfter, string Intermediate, string Output)
{
    public static readonly PreNormLayerNames Vit = new("layernorm_before", "attention.attention", ("query", "key", "value"),
        "attention.output.dense", "layernorm_after", "intermediate.dense", "output.dense");

    public static readonly PreNormLayerNames Clip = new("layer_norm1", "self_attn", ("q_proj", "k_proj", "v_proj"),
        "self_attn.out_proj", "layer_norm2", "mlp.fc1", "mlp.fc2");
}

/// <summary>
/// A pre-LN transformer layer, HF ViTLayer or CLIPEncoderLayer (same computation, different names):
/// h = x + Wo Attn(LN_before(x)); y = h + W2 act(W1 LN_after(h)).
/// </summary>
public sealed class PreNormLayer : Module
{
    private readonly Backends.Activation _activation;

    public PreNormLayer(Init init, TransformerConfig config, PreNormLayerNames? names = null)
    {
        names ??= PreNormLayerNames.Vit;
        _activation = config.Activation;
        double std = config.InitializerRange;
        LayerNormBefore = ChildAt(names.LayerNormBefore, new LayerNorm(init, config.Width, config.LayerNormEps));
        Attention = ChildAt(names.Attention, new SelfAttention(init, config, names.Projections));
        AttentionOutput = ChildAt(names.AttentionOutput, new Linear(init, config.Width, config.Width, std));
        LayerNormAfter = ChildAt(names.LayerNormAfter, new LayerNorm(init, config.Width, config.LayerNormEps));
        Intermediate = ChildAt(names.Intermediate, new Linear(init, config.Width, config.IntermediateSize, std));
        Output = ChildAt(names.Output, new Linear(init, config.IntermediateSize, config.Width, std));
    }

    public LayerNorm LayerNormBefore { get; }
    public SelfAttention Attention { get; }
    public Linear AttentionOutput { get; }
    public LayerNorm LayerNormAfter { get; }
    public Linear Intermediate { get; }
    public Linear Output { get; }

    /// <param name="causal">Each token attends to itself and the tokens before it only (CLIP's text tower).</param>
    public Tensor Forward(Tensor x, Tensor? keyMask, bool causal = false)
    {
        // Both norms feed only GEMMs (the q, k, v projections; the MLP), so bf16 stores them in BF16. Each residual add
        // happens inside the branch's last linear op, so that the branch's output is no tensor of its own for the add to
        // keep until the backward: x and h are kept anyway (by the two norms).
        var h = AttentionOutput.ForwardResidual(Attention.Forward(LayerNormBefore.Forward(x, feedsGemms: true), keyMask, causal), x);
        return Intermediate.ForwardMlp(LayerNormAfter.Forward(h, feedsGemms: true), _activation, Output, residual: h);
    }
}
