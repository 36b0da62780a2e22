using MedClip.Data.Loading;
using MedClip.Models;

namespace MedClip.Inference;

/// <summary>The L2-normalised embedding of one query: a text, or an image file (an unusable file is one sentence naming it).</summary>
public static class QueryEmbedding
{
    public static float[] OfText(CheckpointModel model, string text) => model.EncodeTexts([text]).Data;

    public static float[] OfImage(CheckpointModel model, string path)
    {
        var skipped = new SkipCounter();
        var (embedding, kept) = model.EncodeImages([path], skipped);
        if (kept.Length == 0) throw new InvalidDataException(skipped.FirstMessage(skipped.Counts[0].Key) ?? $"Image '{path}' cannot be read.");
        return embedding.Data;
    }
}
