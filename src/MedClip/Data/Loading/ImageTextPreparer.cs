using MedClip.Data.Images;

namespace MedClip.Data.Loading;

/// <summary>
/// The usual prepare function for <see cref="PrefetchingBatchLoader{TItem}"/>: an item's image through
/// <see cref="ImagePreprocessor"/> (augmented when an augmentation is given, the training path) and its text through
/// the caller's tokenizer, which gets the worker's generator on the training path (text augmentation) and null
/// otherwise. An unusable image is an <see cref="ImageRejectedException"/>, so the loader skips and counts
/// it. Safe to share across the loader's workers.
/// </summary>
public sealed class ImageTextPreparer<TItem>(
    ImagePreprocessor images,
    ImageAugmentation? augmentation,
    Func<TItem, string> imagePath,
    Func<TItem, Random?, (int[] TokenIds, int[] AttentionMask)> tokenize)
{
    public PreparedSample Prepare(TItem item, Random rng)
    {
        var pixels = new float[images.OutputLength];
        if (augmentation is null)
            images.Preprocess(imagePath(item), pixels);
        else
            images.Preprocess(imagePath(item), pixels, augmentation, rng);
        (int[] tokenIds, int[] attentionMask) = tokenize(item, augmentation is null ? null : rng);
        return new PreparedSample(pixels, tokenIds, attentionMask);
    }
}
