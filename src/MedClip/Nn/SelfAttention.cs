using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>HF's self-attention core: query/key/value projections and multi-head attention (the output dense is the caller's).</summary>
public sealed class SelfAttention : Module
{
    private readonly int _heads;
    private readonly ComputePolicy _compute;

    /// <param name="names">The projections' names: BERT/ViT's query, key, value or CLIP's q_proj, k_proj, v_proj.</param>
    public SelfAttention(Init init, TransformerConfig config, (string Query, string Key, string Value)? names = null)
    {
        _heads = config.Heads;
        _compute = init.Compute;
        var (q, k, v) = names ?? ("query", "key", "value");
        Query = Child(q, new Linear(init, config.Width, config.Width, config.InitializerRange));
        Key = Child(k, new Linear(init, config.Width, config.Width, config.InitializerRange));
        Value = Child(v, new Linear(init, config.Width, config.Width, config.InitializerRange));
    }

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }

    /// <summary>x [B, T, D] -> context [B, T, D]; keyMask I32 [B, T] (1 keep, 0 padding) or null; causal: no key after its query.</summary>
    public Tensor Forward(Tensor x, Tensor? keyMask, bool causal = false)
        => Ops.MultiHeadAttention(Query.Forward(x), Key.Forward(x), Value.Forward(x), keyMask, _heads, causal, _compute);
}
