using System.Text.Json;
using MedClip.Backends;
using MedClip.Data;
using MedClip.Data.Images;
using MedClip.Data.Loading;
using MedClip.Data.Text;
using MedClip.IO;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Training;

/// <summary>
/// A training run from options to checkpoints: loads (or generates) the data, builds or reuses the run's vocab.txt and
/// preprocessor_config.json, builds the model from the preset, and trains with prefetching loaders.
/// </summary>
public static class TrainingRun
{
    public const string OptionsFile = "train_options.json";

    public static TrainingSummary Execute(TrainingOptions options, IBackend backend, ITrainingObserver? observer, bool resume, CancellationToken cancel)
    {
        string output = options.OutputDirectory;
        Directory.CreateDirectory(output);
        var preset = ModelPresets.Resolve(options.Model);
        int imageSize = preset.Config.Vision.ImageSize;

        var data = DatasetSpec.Parse(options.Data).Load(output, imageSize, options.Seed, observer is null ? null : observer.OnMessage, options.SyntheticStudies,
            options.DataOptions);
        observer?.OnMessage($"Data: {data}");
        data.Summary.Save(output);
        if (data.Train.Count < options.BatchSize)
            throw new InvalidDataException($"Only {data.Train.Count} usable training samples, fewer than one batch of {options.BatchSize}; lower --batch-size or add data.");

        string vocabPath = Path.Combine(output, CheckpointStore.VocabFile);
        if (!resume || !File.Exists(vocabPath))
            new ReportTokenizer(WordPieceVocabularyBuilder.Build(data.Train.Select(s => s.Text))).Save(output);
        var tokenizer = ReportTokenizer.FromFolder(output);
        string tokenizerConfigPath = Path.Combine(output, BertTokenizerConfigJson.FileName);
        string preprocessorPath = Path.Combine(output, PreprocessorConfig.FileName);
        PreprocessorConfig.ForViT(imageSize).Write(preprocessorPath);
        File.WriteAllText(Path.Combine(output, OptionsFile), JsonSerializer.Serialize(options, new JsonSerializerOptions { WriteIndented = true }));

        var config = preset.Config with { Text = preset.Config.Text with { VocabSize = tokenizer.VocabularySize } };
        var model = new DualEncoder(new Init(backend, DType.F32, options.Seed), config);
        observer?.OnMessage($"Model: {preset.Name}, {model.Parameters().Sum(p => p.Length):N0} parameters on {backend.Name}");

        var images = ImagePreprocessor.FromConfig(PreprocessorConfig.Read(preprocessorPath));
        var sentences = new SentenceSampling(options.SentenceKeepProbability);
        (int[], int[]) Tokenize(ImageTextSample s, Random? rng)
        {
            string text = rng is null || options.SentenceKeepProbability == 1 ? s.Text : sentences.Sample(s.Text, rng);
            var encoded = tokenizer.Encode(text, preset.ContextLength);
            return (encoded.Ids, encoded.AttentionMask);
        }
        var trainPreparer = new ImageTextPreparer<ImageTextSample>(images, options.Augment ? new ImageAugmentation() : null, s => s.ImagePath, Tokenize);
        var evalPreparer = new ImageTextPreparer<ImageTextSample>(images, null, s => s.ImagePath, Tokenize);
        using var train = new PrefetchingBatchLoader<ImageTextSample>(data.Train, options.BatchSize, options.Seed, trainPreparer.Prepare,
            options.Workers, shuffle: true, dropLast: true);
        using var validation = data.Validation.Count >= 2
            ? new PrefetchingBatchLoader<ImageTextSample>(data.Validation, options.BatchSize, options.Seed, evalPreparer.Prepare, options.Workers, shuffle: false)
            : null;

        var trainer = new Trainer(options, model, preset.ContextLength, [vocabPath, tokenizerConfigPath, preprocessorPath], observer);
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
