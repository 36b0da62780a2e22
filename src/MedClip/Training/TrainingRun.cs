using System.Text.Json;
using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Data;
using MedClip.Data.Images;
using MedClip.Data.Loading;
using MedClip.Data.Shards;
using MedClip.Distributed;
using MedClip.Data.Text;
using MedClip.IO;
using MedClip.Inference;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Training;

/// <summary>
/// A training run from options to checkpoints: loads (or generates) the data, builds or reuses the run's vocab.txt and
/// preprocessor_config.json, builds the model from the preset (with pretrained towers from Hugging Face folders when
/// --image-encoder or --text-encoder is given), and trains with prefetching loaders. In a data-parallel job rank 0
/// alone writes the run folder (generated data, vocab.txt, configs) while the others wait for it and then read the same
/// files, every rank checks that all were launched alike, and each loads only its slice of every global batch.
/// </summary>
public static class TrainingRun
{
    public const string OptionsFile = "train_options.json";

    /// <summary>What --extend-vocab added and the tokenisation before and after (<see cref="VocabularyExtension.ToJson"/>).</summary>
    public const string VocabExtensionFile = "vocab_extension.json";

    /// <summary>
    /// Validates the options (<see cref="TrainingOptions.Validate"/>), prepares the run folder, builds the model and the
    /// loaders, and trains. A data set with fewer usable training samples than one batch is refused here.
    /// </summary>
    /// <param name="observer">Progress and messages; in a data-parallel job give it to rank 0 only.</param>
    /// <param name="communicator">The ranks of a data-parallel job; null trains in this process alone.</param>
    public static TrainingSummary Execute(TrainingOptions options, IBackend backend, ITrainingObserver? observer, bool resume, CancellationToken cancel,
        ICommunicator? communicator = null)
    {
        communicator ??= SingleProcessCommunicator.Instance;
        options.Validate(communicator.WorldSize);
        var folder = PrepareRunFolder(options, observer, resume, communicator);
        var model = BuildModel(options, backend, folder, resume, observer);
        var (train, validation) = BuildLoaders(options, folder, communicator, cancel);
        using (train)
        using (validation)
        {
            var runFiles = folder.Layout.TokenizerFiles.Select(f => Path.Combine(options.OutputDirectory, f)).Append(folder.Layout.PreprocessorPath);
            var trainer = new Trainer(options, model, folder.Layout.ContextLength, [.. runFiles], observer, communicator, ListingSha256(folder.Data));
            var summary = trainer.Run(train, validation, resume ? options.OutputDirectory : null, cancel);
            if (communicator.Rank == 0 && summary.Skipped.Count > 0)
            {
                observer?.OnMessage($"Skipped while loading, over the whole run: {string.Join(", ", summary.Skipped.Select(s => $"{s.Key}: {s.Value}"))}");
                foreach ((string reason, long count) in summary.Skipped)
                    folder.Data.Summary.Reject(reason, count);
                folder.Data.Summary.Save(options.OutputDirectory);
            }
            return summary;
        }
    }

    // What the run folder holds once prepared, and what the model and the loaders are built from.
    private sealed record PreparedRun(RunLayout Layout, LoadedDataset Data, ITextTokenizer Tokenizer);

    // What the run starts from and where its files go, known before any data is read.
    private sealed record RunLayout(ModelPreset Preset, PretrainedVision? PretrainedVision, TextConfig? PretrainedText, VisionConfig Vision,
        int ContextLength, string[] TokenizerFiles, string VocabPath, string PreprocessorPath)
    {
        public string? Start => Preset.Folder;
    }

    // Checks that all ranks were launched alike, loads the data, and on rank 0 writes the run folder (data summary,
    // tokenizer files, preprocessor_config.json, train_options.json) while the other ranks wait for it and then read
    // the same data and files.
    private static PreparedRun PrepareRunFolder(TrainingOptions options, ITrainingObserver? observer, bool resume, ICommunicator communicator)
    {
        CheckLaunchedAlike(options, resume, communicator);
        Directory.CreateDirectory(options.OutputDirectory);
        var layout = Layout(options);
        var loaded = communicator.Rank == 0 ? WriteRunFolder(options, layout, observer, resume) : null;
        if (communicator.WorldSize > 1) loaded = ReadRunFolderOnEveryRank(options, layout, observer, communicator, loaded);
        var data = loaded ?? throw new InvalidOperationException("unreachable: rank 0 always loads the data");
        return new PreparedRun(layout, data, ITextTokenizer.FromFolder(options.OutputDirectory));
    }

    private static void CheckLaunchedAlike(TrainingOptions options, bool resume, ICommunicator communicator) =>
        RankAgreement.Check(communicator, [
            ("world size", communicator.WorldSize), ("global batch size (--batch-size)", options.BatchSize), ("seed", options.Seed),
            ("data (--data)", RankAgreement.Hash(options.Data)), ("model (--model)", RankAgreement.Hash(options.Model)),
            ("training options", RankAgreement.Hash(JsonSerializer.Serialize(options with { Workers = 0 }, TrainingJsonContext.Default.TrainingOptions))),
            ("resume (--resume)", resume ? 1 : 0)]);

    // The preset and pretrained towers the run starts from, the image size and context length they allow, and the run
    // folder's tokenizer files (vocab.txt and tokenizer_config.json, or CLIP's vocab.json, merges.txt and two JSON
    // files), which every checkpoint copies.
    private static RunLayout Layout(TrainingOptions options)
    {
        var preset = ModelPresets.Resolve(options.Model);
        string? start = preset.Folder;
        if (start is not null && (options.ImageEncoder ?? options.TextEncoder) is not null)
            throw new ArgumentException($"--model '{start}' starts both towers from that folder; leave out --image-encoder and --text-encoder.");
        var pretrainedVision = options.ImageEncoder is null ? null : PretrainedTowers.ReadVision(options.ImageEncoder);
        var pretrainedText = options.TextEncoder is null ? null : PretrainedTowers.ReadText(options.TextEncoder);
        var vision = ImageSized(pretrainedVision?.Config ?? preset.Config.Vision, options.ImageSize, pretrainedVision is not null || start is not null);
        int contextLength = Math.Min(preset.ContextLength, pretrainedText?.MaxPositions ?? int.MaxValue);
        bool clipTokenizer = (start is null ? pretrainedText ?? preset.Config.Text : preset.Config.Text).ModelType == TextModelType.ClipText;
        string[] tokenizerFiles = clipTokenizer
            ? [ClipTokenizer.VocabularyFileName, ClipTokenizer.MergesFileName, ClipTokenizer.ConfigFileName, ClipTokenizer.SpecialTokensFileName]
            : [CheckpointStore.VocabFile, BertTokenizerConfigJson.FileName];
        string output = options.OutputDirectory;
        return new RunLayout(preset, pretrainedVision, pretrainedText, vision, contextLength, tokenizerFiles, Path.Combine(output, tokenizerFiles[0]),
            Path.Combine(output, PreprocessorConfig.FileName));
    }

    private static LoadedDataset LoadData(TrainingOptions options, RunLayout layout, ITrainingObserver? observer) =>
        DatasetSpec.Parse(options.Data).Load(options.OutputDirectory, layout.Vision.ImageSize, options.Seed, observer is null ? null : observer.OnMessage,
            options.SyntheticStudies, options.DataOptions, observer as IProgress<WorkProgress>);

    // Rank 0: loads the data and writes the run folder. A resumed run checks that it continues the saved one
    // (checkpoint, data, batches, seed) before it writes anything.
    private static LoadedDataset WriteRunFolder(TrainingOptions options, RunLayout layout, ITrainingObserver? observer, bool resume)
    {
        string output = options.OutputDirectory;
        var resumePoint = resume ? ResumePoint(output) : default;
        var loaded = LoadData(options, layout, observer);
        observer?.OnMessage($"Data: {loaded}");
        if (loaded.Train.Count < options.BatchSize)
            throw new InvalidDataException($"Only {loaded.Train.Count} usable training samples, fewer than one batch of {options.BatchSize}; lower --batch-size or add data.");
        resumePoint.State?.CheckContinuedBy(new TrainerState
        {
            BatchesPerEpoch = loaded.Train.Count / options.BatchSize, Seed = options.Seed, DataSha256 = ListingSha256(loaded),
        }, resumePoint.Checkpoint!);
        loaded.Summary.Save(output);
        if (!resume || !File.Exists(layout.VocabPath)) WriteTokenizer(options, layout, loaded, observer);
        (layout.Start is not null ? CheckpointModel.ReadPreprocessor(layout.Start, layout.Preset.Config)
            : layout.PretrainedVision?.Preprocessor ?? PreprocessorConfig.ForViT(layout.Vision.ImageSize)).Write(layout.PreprocessorPath);
        File.WriteAllText(Path.Combine(output, OptionsFile), JsonSerializer.Serialize(options, TrainingJsonContext.Default.TrainingOptions));
        return loaded;
    }

    // A pretrained model or text encoder brings its own tokenizer; prepared shards bring the vocabulary their token ids
    // index; otherwise a vocabulary is built from the reports. --extend-vocab then adds the reports' frequent words.
    private static void WriteTokenizer(TrainingOptions options, RunLayout layout, LoadedDataset loaded, ITrainingObserver? observer)
    {
        var fresh = layout.Start is not null ? layout.Preset.Config.Text.ReadTokenizer(layout.Start)
            : options.TextEncoder is not null ? ReportTokenizer.FromFolder(options.TextEncoder)
            : loaded.Tokens is not null ? ReportTokenizer.FromFolder(loaded.Tokens.VocabularyFolder)
            : new ReportTokenizer(WordPieceVocabularyBuilder.Build(loaded.Train.Select(s => s.Text)));
        if (options.ExtendVocab > 0)
        {
            var pieces = fresh as ReportTokenizer
                ?? throw new ArgumentException("--extend-vocab extends a BERT vocabulary (vocab.txt); the starting model's tokenizer is CLIP's byte-level BPE.");
            var extension = VocabularyExtension.Build(pieces, loaded.Train.Select(s => s.Text).ToList(), options.ExtendVocab);
            observer?.OnMessage(extension.Describe(options.ExtendVocab));
            AtomicFile.WriteAllText(Path.Combine(options.OutputDirectory, VocabExtensionFile),
                extension.ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            fresh = extension.Tokenizer;
        }
        fresh.Save(options.OutputDirectory);
    }

    // In a multi-rank job the other ranks wait until rank 0 has written the run folder, then read the same data and
    // files, and every rank checks that all hold the same training data and vocabulary.
    private static LoadedDataset ReadRunFolderOnEveryRank(TrainingOptions options, RunLayout layout, ITrainingObserver? observer,
        ICommunicator communicator, LoadedDataset? loaded)
    {
        communicator.AllGather([0L]);
        loaded ??= LoadData(options, layout, observer);
        RankAgreement.Check(communicator, [
            ("number of training samples", loaded.Train.Count),
            ("training data (file names and texts)", RankAgreement.Hash(string.Join('\n', loaded.Train.Select(s => Path.GetFileName(s.ImagePath) + '\t' + s.Text)))),
            (layout.TokenizerFiles[0], RankAgreement.Hash(File.ReadAllText(layout.VocabPath)))]);
        return loaded;
    }

    // The model of the run folder's tokenizer, for the run's compute policy: the preset's, with pretrained towers loaded
    // (and an extended vocabulary's embedding rows) when the run starts; a resumed run reloads everything from its checkpoint.
    private static DualEncoder BuildModel(TrainingOptions options, IBackend backend, PreparedRun folder, bool resume, ITrainingObserver? observer)
    {
        var tokenizer = folder.Tokenizer;
        var preset = folder.Layout.Preset;
        var pretrainedText = folder.Layout.PretrainedText;
        // An extended vocabulary grows the pretrained embedding table by the words added after the pretrained tokens.
        IReadOnlyList<int[]>? addedPieces = null;
        if (options.ExtendVocab > 0)
        {
            var pretrainedTokenizer = ReportTokenizer.FromFolder(options.TextEncoder!);
            if (pretrainedTokenizer.VocabularySize != pretrainedText!.VocabSize)
                throw new InvalidDataException($"'{Path.Combine(options.TextEncoder!, CheckpointStore.VocabFile)}' has {pretrainedTokenizer.VocabularySize} tokens but its config.json's vocab_size is {pretrainedText.VocabSize}; --extend-vocab needs the two equal.");
            addedPieces = VocabularyExtension.PiecesOfAddedTokens(pretrainedTokenizer, (tokenizer as ReportTokenizer)!);
        }
        var textConfig = folder.Layout.Start is not null ? preset.Config.Text
            : pretrainedText is null ? preset.Config.Text with { VocabSize = tokenizer.VocabularySize }
            : pretrainedText with { VocabSize = pretrainedText.VocabSize + (addedPieces?.Count ?? 0) };
        if (tokenizer.VocabularySize > textConfig.VocabSize)
            throw new InvalidDataException($"'{folder.Layout.VocabPath}' has {tokenizer.VocabularySize} tokens but the text encoder's vocab_size is {textConfig.VocabSize}.");

        var config = preset.Config with { Vision = folder.Layout.Vision, Text = textConfig, AdapterDim = options.Adapters };
        if (options.Attention == AttentionKind.Fused) config.CheckFusedAttention(backend);
        var model = new DualEncoder(new Init(backend, DType.F32, options.Seed, options.Compute), config);
        if (!resume)
        {
            // The projections and logit scale keep their fresh initialisation unless the run starts from a whole model.
            var notices = new List<string>();
            if (folder.Layout.Start is not null) CheckpointWeights.Load(model, folder.Layout.Start);
            if (options.ImageEncoder is not null) notices.AddRange(PretrainedTowers.LoadVision(model.Vision, folder.Layout.Vision, options.ImageEncoder));
            if (options.TextEncoder is not null) notices.AddRange(PretrainedTowers.LoadText(model.Text, options.TextEncoder, addedPieces));
            foreach (string notice in notices) observer?.OnMessage(notice);
        }
        observer?.OnMessage($"Model: {StartingPoint.Describe(options)}, {model.Parameters().Sum(p => p.Length):N0} parameters on {backend.Name}");
        return model;
    }

    // The training loader (this rank's slice of every global batch, augmented) and on rank 0 the validation loader, both
    // tokenising with the run folder's tokenizer (or the data's stored token ids when they were made with it).
    private static (PrefetchingBatchLoader<ImageTextSample> Train, PrefetchingBatchLoader<ImageTextSample>? Validation) BuildLoaders(
        TrainingOptions options, PreparedRun folder, ICommunicator communicator, CancellationToken cancel)
    {
        var data = folder.Data;
        int contextLength = folder.Layout.ContextLength;
        var tokenizer = folder.Tokenizer;
        // Stored token ids are used only when the run tokenises with exactly the vocabulary and casing they were made with.
        var wordPiece = tokenizer as ReportTokenizer;
        PreparedTokens? stored = data.Tokens is { } t && wordPiece is not null && t.MadeBy(folder.Layout.VocabPath, wordPiece.LowerCase) ? t : null;
        var images = ImagePreprocessor.FromConfig(PreprocessorConfig.Read(folder.Layout.PreprocessorPath));
        var sentences = new SentenceSampling(options.SentenceKeepProbability, options.PeriodDropProbability);
        (int[], int[]) Tokenize(ImageTextSample s, Random? rng)
        {
            bool whole = rng is null; // the training preparer hands over its generator only with --sentence-keep below 1 or --drop-periods
            if (whole && stored is not null && stored.TryGet(s, out int[] ids))
                return wordPiece!.Encode(ids, contextLength);
            var encoded = tokenizer.Encode(whole ? s.Text : sentences.Sample(s.Text, rng!), contextLength);
            return (encoded.Ids, encoded.AttentionMask);
        }
        // --no-augment leaves the images as they are; an explicit --sentence-keep or --drop-periods still augments the texts.
        var trainPreparer = new ImageTextPreparer<ImageTextSample>(images, options.Augment ? new ImageAugmentation() : null, s => s.ImagePath, Tokenize,
            augmentText: sentences.ChangesTexts);
        var evalPreparer = new ImageTextPreparer<ImageTextSample>(images, null, s => s.ImagePath, Tokenize);
        var train = new PrefetchingBatchLoader<ImageTextSample>(data.Train, options.BatchSize, options.Seed, trainPreparer.Prepare,
            options.Workers, shuffle: true, dropLast: true, shard: communicator.WorldSize > 1 ? new BatchShard(communicator.Rank, communicator.WorldSize) : null,
            cancel: communicator.WorldSize > 1 ? default : cancel); // ranks stop together, at a step boundary
        var validation = communicator.Rank == 0 && data.Validation.Count >= 2
            ? new PrefetchingBatchLoader<ImageTextSample>(data.Validation, options.BatchSize, options.Seed, evalPreparer.Prepare, options.Workers, shuffle: false)
            : null;
        return (train, validation);
    }

    // --image-size changes a preset's input size (its patch grid follows); a pretrained tower's position table is fixed, so it is refused there.
    private static VisionConfig ImageSized(VisionConfig vision, int? imageSize, bool pretrained)
    {
        if (imageSize is not int size || size == vision.ImageSize) return vision;
        if (pretrained)
            throw new ArgumentException($"--image-size {size}: the pretrained image tower was trained at {vision.ImageSize} pixels and its position embeddings are not interpolated; leave --image-size out.");
        if (size % vision.PatchSize != 0)
            throw new ArgumentException($"--image-size {size} must be a multiple of the model's patch size, {vision.PatchSize}.");
        return vision with { ImageSize = size };
    }

    /// <summary>The options a run was started with (its train_options.json).</summary>
    public static TrainingOptions ReadOptions(string runFolder)
    {
        string path = Path.Combine(runFolder, OptionsFile);
        if (!File.Exists(path)) throw new FileNotFoundException($"'{runFolder}' has no {OptionsFile}, so it is not a run folder that can be resumed.", path);
        try
        {
            PosixFileSystem.RequireRegularFile(path);
            return JsonSerializer.Deserialize(File.ReadAllText(path), TrainingJsonContext.Default.TrainingOptions) ?? throw new InvalidDataException($"'{path}' is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid options file: {e.Message}");
        }
    }

    private static string ListingSha256(LoadedDataset data) => TrainerState.ListingSha256(data.Train.Select(s => (s.ImagePath, s.Text)));

    private static (string? Checkpoint, TrainerState? State) ResumePoint(string output)
    {
        string checkpoint = CheckpointStore.Latest(output)
            ?? throw new DirectoryNotFoundException($"'{output}' holds no checkpoint to resume from.");
        return (checkpoint, TrainerState.Read(Path.Combine(checkpoint, CheckpointStore.StateFile)));
    }
}
