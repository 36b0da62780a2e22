using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>
/// Where a pre-LN layer's parts live in an HF module tree (ViTLayer or CLIPEncoderLayer). The adapters' names are
/// MedClip's own, beside the sub-layer they adapt, so that transformers ignores them as unexpected keys.
/// </summary>
public sealed record PreNormLayerNames(string LayerNormBefore, string Attention, (string Query, string Key, string Value) Projections,
    string AttentionOutput, string LayerNormAfter, string Intermediate, string Output, string AttentionAdapter, string MlpAdapter)
{
    public static readonly PreNormLayerNames Vit = new("layernorm_before", "attention.attention", ("query", "key", "value"),
        "attention.output.dense", "layernorm_after", "intermediate.dense", "output.dense", "attention.output.adapter", "output.adapter");

    public static readonly PreNormLayerNames Clip = new("layer_norm1", "self_attn", ("q_proj", "k_proj", "v_proj"),
        "self_attn.out_proj", "layer_norm2", "mlp.fc1", "mlp.fc2", "self_attn.adapter", "mlp.adapter");
}

/// <summary>
/// A pre-LN transformer layer, HF ViTLayer or CLIPEncoderLayer (same computation, different names):
/// h = x + Wo Attn(LN_before(x)); y = h + W2 act(W1 LN_after(h)). With adapters (<see cref="AddAdapters"/>), Houlsby's
/// placement: each sub-layer's output passes its adapter before the skip connection is added,
/// h = x + A1(Wo Attn(LN_before(x))); y = h + A2(W2 act(W1 LN_after(h))).
/// </summary>
public sealed class PreNormLayer : Module
{
    private readonly Backends.Activation _activation;
    private readonly PreNormLayerNames _names;
    private readonly TransformerConfig _config;

    public PreNormLayer(Init init, TransformerConfig config, PreNormLayerNames? names = null)
    {
        names ??= PreNormLayerNames.Vit;
        (_names, _config, _activation) = (names, config, config.Activation);
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
    public Adapter? AttentionAdapter { get; private set; }
    public Adapter? MlpAdapter { get; private set; }

    /// <summary>Inserts a bottleneck adapter of <paramref name="dim"/> after the attention and after the MLP.</summary>
    public void AddAdapters(Init init, int dim)
    {
        if (AttentionAdapter is not null) throw new InvalidOperationException("This layer already has adapters.");
        AttentionAdapter = ChildAt(_names.AttentionAdapter, new Adapter(init, _config.Width, dim, _config.InitializerRange));
        MlpAdapter = ChildAt(_names.MlpAdapter, new Adapter(init, _config.Width, dim, _config.InitializerRange));
    }

    /// <param name="causal">Each token attends to itself and the tokens before it only (CLIP's text tower).</param>
    public Tensor Forward(Tensor x, Tensor? keyMask, bool causal = false)
    {
        if (AttentionAdapter is not null && MlpAdapter is not null) return ForwardWithAdapters(x, keyMask, AttentionAdapter, MlpAdapter);
        // Each residual add happens inside the branch's last linear op, so that the branch's output is no tensor of its own
        // for the add to keep until the backward: x and h are kept anyway (by the two norms).
        var h = AttentionOutput.ForwardResidual(Attention.Forward(LayerNormBefore.Forward(x), keyMask, causal), x);
        return Intermediate.ForwardMlp(LayerNormAfter.Forward(h), _activation, Output, residual: h);
    }

    private Tensor ForwardWithAdapters(Tensor x, Tensor? keyMask, Adapter attentionAdapter, Adapter mlpAdapter)
    {
        var attention = AttentionOutput.Forward(Attention.Forward(LayerNormBefore.Forward(x), keyMask));
        var h = Ops.Add(x, attentionAdapter.Forward(attention));
        return Ops.Add(h, mlpAdapter.Forward(Intermediate.ForwardMlp(LayerNormAfter.Forward(h), _activation, Output)));
    }
}
