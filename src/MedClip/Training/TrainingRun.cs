using System.Text.Json;
using MedClip.Backends;
using MedClip.Data;
using MedClip.Data.Images;
using MedClip.Data.Loading;
using MedClip.Data.Shards;
using MedClip.Data.Text;
using MedClip.IO;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Training;

/// <summary>
/// A training run from options to checkpoints: loads (or generates) the data, builds or reuses the run's vocab.txt and
/// preprocessor_config.json, builds the model from the preset (with pretrained towers from Hugging Face folders when
/// --image-encoder or --text-encoder is given), and trains with prefetching loaders.
/// </summary>
public static class TrainingRun
{
    public const string OptionsFile = "train_options.json";

    public static TrainingSummary Execute(TrainingOptions options, IBackend backend, ITrainingObserver? observer, bool resume, CancellationToken cancel)
    {
        options.Validate();
        string output = options.OutputDirectory;
        Directory.CreateDirectory(output);
        var preset = ModelPresets.Resolve(options.Model);
        var pretrainedVision = options.ImageEncoder is null ? null : PretrainedTowers.ReadVision(options.ImageEncoder);
        var pretrainedText = options.TextEncoder is null ? null : PretrainedTowers.ReadText(options.TextEncoder);
        var vision = pretrainedVision?.Config ?? preset.Config.Vision;
        int imageSize = vision.ImageSize;
        int contextLength = Math.Min(preset.ContextLength, pretrainedText?.MaxPositions ?? int.MaxValue);

        var data = DatasetSpec.Parse(options.Data).Load(output, imageSize, options.Seed, observer is null ? null : observer.OnMessage, options.SyntheticStudies,
            options.DataOptions);
        observer?.OnMessage($"Data: {data}");
        data.Summary.Save(output);
        if (data.Train.Count < options.BatchSize)
            throw new InvalidDataException($"Only {data.Train.Count} usable training samples, fewer than one batch of {options.BatchSize}; lower --batch-size or add data.");

        // A pretrained text encoder brings its own vocab.txt and casing; prepared shards bring the one their token ids
        // index; otherwise a vocabulary is built from the reports.
        string vocabPath = Path.Combine(output, CheckpointStore.VocabFile);
        if (!resume || !File.Exists(vocabPath))
        {
            var fresh = options.TextEncoder is not null ? ReportTokenizer.FromFolder(options.TextEncoder)
                : data.Tokens is not null ? ReportTokenizer.FromFolder(data.Tokens.VocabularyFolder)
                : new ReportTokenizer(WordPieceVocabularyBuilder.Build(data.Train.Select(s => s.Text)));
            fresh.Save(output);
        }
        var tokenizer = ReportTokenizer.FromFolder(output);
        // Stored token ids are used only when the run tokenises with exactly the vocabulary and casing they were made with.
        PreparedTokens? stored = data.Tokens is { } t && t.MadeBy(vocabPath, tokenizer.LowerCase) ? t : null;
        var textConfig = pretrainedText ?? preset.Config.Text with { VocabSize = tokenizer.VocabularySize };
        if (tokenizer.VocabularySize > textConfig.VocabSize)
            throw new InvalidDataException($"'{vocabPath}' has {tokenizer.VocabularySize} tokens but the text encoder's vocab_size is {textConfig.VocabSize}.");
        string tokenizerConfigPath = Path.Combine(output, BertTokenizerConfigJson.FileName);
        string preprocessorPath = Path.Combine(output, PreprocessorConfig.FileName);
        (pretrainedVision?.Preprocessor ?? PreprocessorConfig.ForViT(imageSize)).Write(preprocessorPath);
        File.WriteAllText(Path.Combine(output, OptionsFile), JsonSerializer.Serialize(options, new JsonSerializerOptions { WriteIndented = true }));

        var config = preset.Config with { Vision = vision, Text = textConfig };
        var model = new DualEncoder(new Init(backend, DType.F32, options.Seed), config);
        if (!resume)
        {
            // The projections and logit scale keep their fresh initialisation; a resumed run reloads everything from its checkpoint.
            var notices = new List<string>();
            if (options.ImageEncoder is not null) notices.AddRange(PretrainedTowers.LoadVision(model.Vision, vision, options.ImageEncoder));
            if (options.TextEncoder is not null) notices.AddRange(PretrainedTowers.LoadText(model.Text, options.TextEncoder));
            foreach (string notice in notices) observer?.OnMessage(notice);
        }
        string towers = string.Join(", ", new[] { ("image", options.ImageEncoder), ("text", options.TextEncoder) }
            .Where(t => t.Item2 is not null).Select(t => $"{t.Item1} tower from {t.Item2}"));
        observer?.OnMessage($"Model: {preset.Name}{(towers.Length > 0 ? $" with the {towers}" : "")}, {model.Parameters().Sum(p => p.Length):N0} parameters on {backend.Name}");

        var images = ImagePreprocessor.FromConfig(PreprocessorConfig.Read(preprocessorPath));
        var sentences = new SentenceSampling(options.SentenceKeepProbability);
        (int[], int[]) Tokenize(ImageTextSample s, Random? rng)
        {
            bool whole = rng is null || options.SentenceKeepProbability == 1;
            if (whole && stored is not null && stored.TryGet(s, out int[] ids))
                return tokenizer.Encode(ids, contextLength);
            var encoded = tokenizer.Encode(whole ? s.Text : sentences.Sample(s.Text, rng!), contextLength);
            return (encoded.Ids, encoded.AttentionMask);
        }
        var trainPreparer = new ImageTextPreparer<ImageTextSample>(images, options.Augment ? new ImageAugmentation() : null, s => s.ImagePath, Tokenize);
        var evalPreparer = new ImageTextPreparer<ImageTextSample>(images, null, s => s.ImagePath, Tokenize);
        using var train = new PrefetchingBatchLoader<ImageTextSample>(data.Train, options.BatchSize, options.Seed, trainPreparer.Prepare,
            options.Workers, shuffle: true, dropLast: true);
        using var validation = data.Validation.Count >= 2
            ? new PrefetchingBatchLoader<ImageTextSample>(data.Validation, options.BatchSize, options.Seed, evalPreparer.Prepare, options.Workers, shuffle: false)
            : null;

        var trainer = new Trainer(options, model, contextLength, [vocabPath, tokenizerConfigPath, preprocessorPath], observer);
        var summary = trainer.Run(train, validation, resume ? output : null, cancel);
        if (train.Skipped.Total > 0)
        {
            observer?.OnMessage($"Skipped while loading: {train.Skipped.Summary()}");
            foreach ((string reason, long count) in train.Skipped.Counts)
                data.Summary.Reject(reason, count);
            data.Summary.Save(output);
        }
        return summary;
    }
}
