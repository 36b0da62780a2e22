using MedClip.Data.Images;

namespace MedClip.Data.Loading;

/// <summary>
/// The usual prepare function for <see cref="PrefetchingBatchLoader{TItem}"/>: an item's image through
/// <see cref="ImagePreprocessor"/> (augmented when an augmentation is given, the training path) and its text through
/// the caller's tokenizer, which gets the worker's generator when <paramref name="augmentText"/> is set (text
/// augmentation, drawn after the image's) and null otherwise. An unusable image is an
/// <see cref="ImageRejectedException"/>, so the loader skips and counts it. Safe to share across the loader's workers.
/// </summary>
/// <param name="augmentText">Hand the tokenizer the generator; by default, when the image is augmented.</param>
public sealed class ImageTextPreparer<TItem>(
    ImagePreprocessor images,
    ImageAugmentation? augmentation,
    Func<TItem, string> imagePath,
    Func<TItem, Random?, (int[] TokenIds, int[] AttentionMask)> tokenize,
    bool? augmentText = null)
{
    private readonly bool _augmentText = augmentText ?? augmentation is not null;

    public PreparedSample Prepare(TItem item, Random rng)
    {
        var pixels = new float[images.OutputLength];
        if (augmentation is null)
            images.Preprocess(imagePath(item), pixels);
        else
            images.Preprocess(imagePath(item), pixels, augmentation, rng);
        (int[] tokenIds, int[] attentionMask) = tokenize(item, _augmentText ? rng : null);
        return new PreparedSample(pixels, tokenIds, attentionMask);
    }
}
