namespace MedClip.Data.Loading;

/// <summary>
/// One image-text pair ready for the model: normalised CHW pixels (3 x size x size) and the report's token ids with
/// their attention mask (1 for a token, 0 for padding), both padded to the context length.
/// </summary>
public sealed record PreparedSample(float[] Pixels, int[] TokenIds, int[] AttentionMask);
