using MedClip.Backends;

namespace MedClip.Nn;

/// <summary>The sizes one transformer layer needs, read from an HF config (hidden_size, num_attention_heads, ...).</summary>
public sealed record TransformerConfig(
    int Width,
    int Heads,
    int IntermediateSize,
    Activation Activation,
    double LayerNormEps,
    double InitializerRange = 0.02)
{
    public int HeadDim => Width / Heads;

    public void Validate(string tower)
    {
        if (Width <= 0 || Heads <= 0 || Width % Heads != 0)
            throw new ArgumentException($"{tower}: hidden_size {Width} must be a positive multiple of num_attention_heads {Heads}.");
        if (IntermediateSize <= 0)
            throw new ArgumentException($"{tower}: intermediate_size {IntermediateSize} must be positive.");
    }
}
