using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Data;
using MedClip.Data.Images;
using MedClip.Data.Loading;
using MedClip.Data.Text;
using MedClip.Evaluation;
using MedClip.IO;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using MedClip.Training;

namespace MedClip.Inference;

/// <summary>
/// A trained dual encoder loaded from a checkpoint folder with its tokenizer and image preprocessing, encoding images
/// and texts into L2-normalised embeddings in batches without gradients.
/// </summary>
public sealed class CheckpointModel
{
    private const int EncodeBatch = 64;

    private CheckpointModel(DualEncoder model, ITextTokenizer tokenizer, ImagePreprocessor images, int contextLength)
    {
        Model = model;
        Tokenizer = tokenizer;
        Images = images;
        ContextLength = contextLength;
    }

    public DualEncoder Model { get; }
    public ITextTokenizer Tokenizer { get; }
    public ImagePreprocessor Images { get; }
    public int ContextLength { get; }
    public double LogitScale => Math.Exp(Math.Min(Model.LogitScale.Item(), Losses.InfoNceLoss.MaxLogitScale));

    /// <summary>
    /// The one loading path for inference: a MedClip checkpoint (VisionTextDualEncoder layout) or a Hugging Face
    /// CLIPModel folder as save_pretrained writes it (both towers, both projections, logit_scale, CLIP's tokenizer; a
    /// folder without preprocessor_config.json gets CLIP's preprocessing).
    /// </summary>
    public static CheckpointModel Load(string checkpoint, IBackend backend)
    {
        if (!Directory.Exists(checkpoint)) throw new DirectoryNotFoundException($"Checkpoint folder '{checkpoint}' does not exist.");
        string configPath = Path.Combine(checkpoint, CheckpointStore.ConfigFile);
        if (!File.Exists(configPath))
            throw new FileNotFoundException($"'{configPath}' is missing; a checkpoint or CLIPModel folder holds its config.json.", configPath);
        var (config, contextLength) = DualEncoderConfigJson.Read(configPath);
        CheckpointStore.RequireModelFiles(checkpoint, config.Layout);
        var model = new DualEncoder(new Init(backend, DType.F32, 0), config);
        CheckpointWeights.Load(model, checkpoint);
        var tokenizer = config.Text.ReadTokenizer(checkpoint);
        // A pretrained BERT's embedding table may have more rows than its vocab.txt has tokens (padded vocab_size).
        if (tokenizer.VocabularySize > config.Text.VocabSize)
            throw new InvalidDataException($"Checkpoint '{checkpoint}': its tokenizer has {tokenizer.VocabularySize} tokens but the text model has only {config.Text.VocabSize}.");
        return new CheckpointModel(model, tokenizer, ImagePreprocessor.FromConfig(ReadPreprocessor(checkpoint, config)), contextLength);
    }

    /// <summary>The folder's preprocessor_config.json at the model's image size; CLIP's preprocessing for a CLIPModel folder without one.</summary>
    public static PreprocessorConfig ReadPreprocessor(string folder, DualEncoderConfig config)
    {
        string path = Path.Combine(folder, CheckpointStore.PreprocessorFile);
        var preprocessor = !File.Exists(path) && config.Layout == CheckpointLayout.ClipModel
            ? PreprocessorConfig.ForClip(config.Vision.ImageSize)
            : PreprocessorConfig.Read(path);
        return preprocessor with { ImageSize = config.Vision.ImageSize };
    }

    /// <summary>
    /// Embeddings of the readable images in input order, with the input index of each row. An unusable image
    /// (missing, corrupt, ...) is counted in <paramref name="skipped"/> by reason and left out, so one bad file does
    /// not stop an evaluation.
    /// </summary>
    public (EmbeddingMatrix Embeddings, int[] Kept) EncodeImages(IReadOnlyList<string> paths, SkipCounter skipped,
        IProgress<WorkProgress>? progress = null, string stage = "embedding images")
    {
        int size = Images.Size, length = Images.OutputLength, dim = Model.Config.ProjectionDim;
        var data = new List<float>(paths.Count * dim);
        var kept = new List<int>(paths.Count);
        var pixels = new float[EncodeBatch * length];
        using var noGrad = GradMode.Disable();
        for (int start = 0; start < paths.Count; start += EncodeBatch)
        {
            progress?.Report(new WorkProgress(stage, start, paths.Count));
            int count = Math.Min(EncodeBatch, paths.Count - start);
            var readable = new bool[count];
            Parallel.For(0, count, i =>
            {
                try
                {
                    Images.Preprocess(paths[start + i], pixels.AsSpan(i * length, length));
                    readable[i] = true;
                }
                catch (ImageRejectedException e)
                {
                    skipped.Record(e);
                }
            });
            int rows = 0;
            for (int i = 0; i < count; i++)
            {
                if (!readable[i]) continue;
                if (rows != i) pixels.AsSpan(i * length, length).CopyTo(pixels.AsSpan(rows * length, length));
                kept.Add(start + i);
                rows++;
            }
            if (rows == 0) continue;
            using var batchMemory = Model.Backend.OpenScope();
            var tensor = Tensor.FromArray(Model.Backend, [rows, 3, size, size], pixels[..(rows * length)]);
            data.AddRange(Model.EncodeImages(tensor).ToArray<float>());
        }
        progress?.Report(new WorkProgress(stage, paths.Count, paths.Count));
        return (new EmbeddingMatrix([.. data], kept.Count, dim), [.. kept]);
    }

    public EmbeddingMatrix EncodeTexts(IReadOnlyList<string> texts) => Encode(texts.Count, (start, count) =>
    {
        var batch = Tokenizer.EncodeBatch(texts.Skip(start).Take(count).ToList(), ContextLength).TrimmedToLongest();
        var backend = Model.Backend;
        var ids = Tensor.FromArray(backend, [count, batch.ContextLength], batch.Ids);
        var mask = Tensor.FromArray(backend, [count, batch.ContextLength], batch.AttentionMask);
        return Model.EncodeTexts(ids, mask);
    });

    private EmbeddingMatrix Encode(int total, Func<int, int, Tensor> encodeBatch)
    {
        int dim = Model.Config.ProjectionDim;
        var data = new float[total * dim];
        using var noGrad = GradMode.Disable();
        for (int start = 0; start < total; start += EncodeBatch)
        {
            int count = Math.Min(EncodeBatch, total - start);
            using var batchMemory = Model.Backend.OpenScope();
            encodeBatch(start, count).ToArray<float>().CopyTo(data, start * dim);
        }
        return new EmbeddingMatrix(data, total, dim);
    }
}
