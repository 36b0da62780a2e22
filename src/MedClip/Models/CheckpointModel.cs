using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Data.Images;
using MedClip.Data.Text;
using MedClip.Evaluation;
using MedClip.IO;
using MedClip.Nn;
using MedClip.Tensors;
using MedClip.Training;

namespace MedClip.Models;

/// <summary>
/// A trained dual encoder loaded from a checkpoint folder with its tokenizer and image preprocessing, encoding images
/// and texts into L2-normalised embeddings in batches without gradients.
/// </summary>
public sealed class CheckpointModel
{
    private const int EncodeBatch = 64;

    private CheckpointModel(DualEncoder model, ReportTokenizer tokenizer, ImagePreprocessor images, int contextLength)
    {
        Model = model;
        Tokenizer = tokenizer;
        Images = images;
        ContextLength = contextLength;
    }

    public DualEncoder Model { get; }
    public ReportTokenizer Tokenizer { get; }
    public ImagePreprocessor Images { get; }
    public int ContextLength { get; }
    public double LogitScale => Math.Exp(Math.Min(Model.LogitScale.Item(), Losses.InfoNceLoss.MaxLogitScale));

    public static CheckpointModel Load(string checkpoint, IBackend backend)
    {
        CheckpointStore.RequireModelFiles(checkpoint);
        var (config, contextLength) = DualEncoderConfigJson.Read(Path.Combine(checkpoint, CheckpointStore.ConfigFile));
        var model = new DualEncoder(new Init(backend, DType.F32, 0), config);
        ModuleWeights.Load(model, Path.Combine(checkpoint, CheckpointStore.WeightsFile));
        var tokenizer = ReportTokenizer.FromFolder(checkpoint);
        // A pretrained BERT's embedding table may have more rows than its vocab.txt has tokens (padded vocab_size).
        if (tokenizer.VocabularySize > config.Text.VocabSize)
            throw new InvalidDataException($"Checkpoint '{checkpoint}': vocab.txt has {tokenizer.VocabularySize} tokens but the text model has only {config.Text.VocabSize}.");
        var preprocessor = PreprocessorConfig.Read(Path.Combine(checkpoint, CheckpointStore.PreprocessorFile));
        return new CheckpointModel(model, tokenizer, ImagePreprocessor.FromConfig(preprocessor with { ImageSize = config.Vision.ImageSize }), contextLength);
    }

    /// <summary>Image embeddings in input order; an unreadable image is an error naming it (callers filter first).</summary>
    public EmbeddingMatrix EncodeImages(IReadOnlyList<string> paths) => Encode(paths.Count, (start, count) =>
    {
        int size = Images.Size;
        var pixels = new float[count * Images.OutputLength];
        Parallel.For(0, count, i => Images.Preprocess(paths[start + i], pixels.AsSpan(i * Images.OutputLength, Images.OutputLength)));
        var tensor = Tensor.FromArray(Model.LogitScale.Backend, [count, 3, size, size], pixels);
        return Model.EncodeImages(tensor);
    });

    public EmbeddingMatrix EncodeTexts(IReadOnlyList<string> texts) => Encode(texts.Count, (start, count) =>
    {
        var batch = Tokenizer.EncodeBatch(texts.Skip(start).Take(count).ToList(), ContextLength);
        var backend = Model.LogitScale.Backend;
        var ids = Tensor.FromArray(backend, [count, ContextLength], batch.Ids);
        var mask = Tensor.FromArray(backend, [count, ContextLength], batch.AttentionMask);
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
            encodeBatch(start, count).ToArray<float>().CopyTo(data, start * dim);
        }
        return new EmbeddingMatrix(data, total, dim);
    }
}
