using MedClip.Autograd;
using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>HF's self-attention core: query/key/value projections and multi-head attention (the output dense is the caller's).</summary>
public sealed class SelfAttention : Module
{
    private readonly int _heads;

    public SelfAttention(Init init, TransformerConfig config)
    {
        _heads = config.Heads;
        Query = Child("query", new Linear(init, config.Width, config.Width, config.InitializerRange));
        Key = Child("key", new Linear(init, config.Width, config.Width, config.InitializerRange));
        Value = Child("value", new Linear(init, config.Width, config.Width, config.InitializerRange));
    }

    public Linear Query { get; }
    public Linear Key { get; }
    public Linear Value { get; }

    /// <summary>x [B, T, D] -> context [B, T, D]; keyMask I32 [B, T] (1 keep, 0 padding) or null.</summary>
    public Tensor Forward(Tensor x, Tensor? keyMask) =>
        Ops.MultiHeadAttention(Query.Forward(x), Key.Forward(x), Value.Forward(x), keyMask, _heads);
}
