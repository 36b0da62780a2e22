using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using MedClip.Data.Images;
using MedClip.Data.Text;

namespace MedClip.Data.Loading;

/// <summary>What the loader delivered in a timed run.</summary>
public sealed record LoaderBenchmarkResult(string Data, int ImageSize, int BatchSize, int Workers, bool Augment, int Images, double Seconds)
{
    public double ImagesPerSecond => Images / Seconds;

    public string ToJson() => new JsonObject
    {
        ["data"] = Data,
        ["image_size"] = ImageSize,
        ["batch_size"] = BatchSize,
        ["workers"] = Workers,
        ["augment"] = Augment,
        ["images"] = Images,
        ["seconds"] = Math.Round(Seconds, 3),
        ["images_per_s"] = Math.Round(ImagesPerSecond, 1),
    }.ToJsonString();

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"loader: {Data} at {ImageSize} px, batch {BatchSize}, {Workers} workers, augmentation {(Augment ? "on" : "off")}: " +
        $"{Images} images in {Seconds:F2} s = {ImagesPerSecond:F1} images/s");
}

/// <summary>
/// Times the training input pipeline alone: the training split through <see cref="PrefetchingBatchLoader{TItem}"/>
/// exactly as training uses it (decode or shard read, augmentation, normalisation, tokenisation, batch assembly), the
/// consumer taking batches as fast as they come. The first batch (thread start, cold caches) is not timed.
/// </summary>
public static class LoaderBenchmark
{
    public static LoaderBenchmarkResult Run(LoadedDataset data, string dataName, int imageSize, int batchSize, int batches, int workers,
        bool augment = true, int contextLength = 64)
    {
        if (data.Train.Count == 0)
            throw new InvalidDataException($"Dataset {dataName} has no training samples to time.");
        var tokenizer = new ReportTokenizer(WordPieceVocabularyBuilder.Build(data.Train.Select(s => s.Text)));
        var images = ImagePreprocessor.FromConfig(PreprocessorConfig.ForViT(imageSize));
        (int[], int[]) Tokenize(ImageTextSample s, Random? rng) => tokenizer.Encode(s.Text, contextLength);
        var preparer = new ImageTextPreparer<ImageTextSample>(images, augment ? new ImageAugmentation() : null, s => s.ImagePath, Tokenize);
        using var loader = new PrefetchingBatchLoader<ImageTextSample>(data.Train, batchSize, seed: 0, preparer.Prepare, workers, shuffle: true);

        var clock = new Stopwatch();
        int delivered = 0, taken = 0;
        for (int epoch = 0; taken <= batches; epoch++)
        {
            foreach (Batch batch in loader.Epoch(epoch))
            {
                if (taken == 0)
                    clock.Start();
                else
                    delivered += batch.Count;
                if (++taken > batches)
                    break;
            }
        }
        clock.Stop();
        return new LoaderBenchmarkResult(dataName, imageSize, batchSize, loader.WorkerCount, augment, delivered, clock.Elapsed.TotalSeconds);
    }
}
