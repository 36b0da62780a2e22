using MedClip.Backends.Cpu;
using MedClip.Data;
using MedClip.Data.Text;
using MedClip.Evaluation;
using MedClip.IO;
using MedClip.Inference;
using MedClip.Models;
using MedClip.Tests.Distributed;
using MedClip.Training;

namespace MedClip.Tests.Training;

/// <summary>The whole job on a small generated set: train, checkpoint, resume, evaluate, embed.</summary>
public sealed class TrainingRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-run-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private TrainingOptions Options(int steps) => new()
    {
        Data = "synthetic", Model = "tiny", SyntheticStudies = 120, BatchSize = 8, Steps = steps, WarmupSteps = 1,
        LogEvery = 1, ValidateEvery = 2, CheckpointEvery = 2, OutputDirectory = _dir, Workers = 2,
    };

    [Fact]
    public void TrainResumeEvaluateEmbed_OnGeneratedSyntheticSet()
    {
        var first = TrainingRun.Execute(Options(2), CpuBackend.Instance, null, resume: false, CancellationToken.None);
        Assert.Equal(2, first.Steps);
        Assert.Contains("\"kept\": 120", File.ReadAllText(Path.Combine(_dir, LoadSummary.FileName)));
        var resumed = TrainingRun.Execute(Options(3), CpuBackend.Instance, null, resume: true, CancellationToken.None);
        Assert.Equal(3, resumed.Steps);
        Assert.Equal([1, 2, 3], MetricsLog.Read(Path.Combine(_dir, "metrics.jsonl")).Where(l => l["loss"] is not null).Select(l => (int)l["step"]!));

        string checkpoint = CheckpointStore.Latest(_dir)!;
        Assert.EndsWith("checkpoint-0000003", checkpoint);
        foreach (var file in CheckpointStore.ModelFiles.Append("tokenizer_config.json"))
            Assert.True(File.Exists(Path.Combine(checkpoint, file)), file);

        var model = CheckpointModel.Load(checkpoint, CpuBackend.Instance);
        var data = DatasetSpec.Parse("synthetic").Load(_dir, model.Images.Size, seed: 0);
        string evalDir = Path.Combine(_dir, "eval");
        var options = new EvaluationOptions("test", checkpoint, "synthetic", "test", PromptSet.Default, UncertainLabels.Exclude, Resamples: 20);
        var report = EvaluationRun.Run(model, data.Test, data.Train, options);
        EvaluationOutputs.Write(report, evalDir);
        Assert.Equal(data.Test.Count, report.Evaluated.Count);
        Assert.Contains(report.ZeroShot!, l => l.Label == "Pleural Effusion");
        var header = File.ReadLines(Path.Combine(evalDir, "predictions.csv")).First().Split(',');
        Assert.Equal(["image", "study_id"], header[..2]);
        Assert.Contains("score_Pleural Effusion", header);
        Assert.Contains("true_Pleural Effusion", header);
        foreach (var file in new[] { "metrics.json", "report.md", "roc_zero_shot.png", "training_loss.png", "training_logit_scale.png" })
            Assert.True(File.Exists(Path.Combine(evalDir, file)), file);

        var texts = model.EncodeTexts(["no pleural effusion", "large right pleural effusion"]);
        Assert.Equal(2, texts.Count);
        Assert.Equal(1.0, Math.Sqrt(EmbeddingMatrix.Dot(texts.Row(0), texts.Row(0))), 5);
    }

    [Fact]
    public void Adapters_StartingFromAMedClipCheckpoint_TrainResumeAndLoadForInference()
    {
        string pretrained = Path.Combine(_dir, "pretrained");
        TrainingRun.Execute(Options(1) with { OutputDirectory = pretrained }, CpuBackend.Instance, null, resume: false, CancellationToken.None);
        string start = CheckpointStore.Latest(pretrained)!;
        string run = Path.Combine(_dir, "adapters");
        TrainingOptions Adapted(int steps, int adapters = 8) =>
            Options(steps) with { OutputDirectory = run, ImageEncoder = start, TextEncoder = start, Adapters = adapters };

        Assert.Equal(2, TrainingRun.Execute(Adapted(2), CpuBackend.Instance, null, resume: false, CancellationToken.None).Steps);
        var wrong = Assert.Throws<InvalidDataException>(() => TrainingRun.Execute(Adapted(3, adapters: 4), CpuBackend.Instance, null, resume: true, CancellationToken.None));
        Assert.Contains("resume it with --adapters 8", wrong.Message);
        Assert.Equal(3, TrainingRun.Execute(Adapted(3), CpuBackend.Instance, null, resume: true, CancellationToken.None).Steps);

        string checkpoint = CheckpointStore.Latest(run)!;
        Assert.Contains("\"adapter_dim\": 8", File.ReadAllText(Path.Combine(checkpoint, CheckpointStore.ConfigFile)));
        Assert.Equal(File.ReadAllText(Path.Combine(start, CheckpointStore.VocabFile)), File.ReadAllText(Path.Combine(checkpoint, CheckpointStore.VocabFile)));
        using var before = SafetensorsFile.Read(Path.Combine(start, CheckpointStore.WeightsFile));
        using var after = SafetensorsFile.Read(Path.Combine(checkpoint, CheckpointStore.WeightsFile));
        // The towers' weights outside the adapters and layer norms are the starting checkpoint's, untouched.
        var frozen = before.Tensors.Keys.Where(n => DualEncoder.IsTowerParameter(n) && !n.Contains("LayerNorm") && !n.Contains("layernorm")).ToList();
        Assert.NotEmpty(frozen);
        Assert.All(frozen, n => Assert.Equal(before[n].ToFloat32(), after[n].ToFloat32()));
        Assert.Equal(2 * 4 * 2 * 4, after.Tensors.Keys.Count(n => n.Contains(".adapter.")));

        var model = CheckpointModel.Load(checkpoint, CpuBackend.Instance);
        Assert.Equal(8, model.Model.Config.AdapterDim);
        foreach (var (name, tensor) in model.Model.NamedParameters()) Assert.Equal(after[name].ToFloat32(), tensor.ToArray<float>());
        Assert.Equal(2, model.EncodeTexts(["no pleural effusion", "large right pleural effusion"]).Count);
    }

    [Fact]
    public void PretrainedTowers_EndUpInTheCheckpointWithTheirVocabularyAndPreprocessing()
    {
        string fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Pretrained");
        // A learning rate of 1e-12 keeps the weights where the folders put them, to within float32 rounding.
        var options = Options(1) with
        {
            ImageEncoder = Path.Combine(fixtures, "clip"), TextEncoder = Path.Combine(fixtures, "bert"), LearningRate = 1e-12, Augment = false,
        };

        TrainingRun.Execute(options, CpuBackend.Instance, null, resume: false, CancellationToken.None);

        string checkpoint = CheckpointStore.Latest(_dir)!;
        var model = CheckpointModel.Load(checkpoint, CpuBackend.Instance);
        Assert.Equal(VisionModelType.ClipVision, model.Model.Config.Vision.ModelType);
        Assert.Equal(32, model.Images.Size);
        Assert.Equal(12, model.ContextLength);
        Assert.False(Assert.IsType<ReportTokenizer>(model.Tokenizer).LowerCase);
        Assert.Equal(File.ReadAllLines(Path.Combine(fixtures, "bert", "vocab.txt")), File.ReadAllLines(Path.Combine(checkpoint, "vocab.txt")));
        using var saved = SafetensorsFile.Read(Path.Combine(checkpoint, "model.safetensors"));
        using var clip = SafetensorsFile.Read(Path.Combine(fixtures, "clip", "model.safetensors"));
        using var bert = SafetensorsFile.Read(Path.Combine(fixtures, "bert", "model.safetensors"));
        AssertNear(clip["vision_model.encoder.layers.1.self_attn.q_proj.weight"], saved["vision_model.vision_model.encoder.layers.1.self_attn.q_proj.weight"]);
        AssertNear(bert["encoder.layer.0.attention.self.query.weight"], saved["text_model.encoder.layer.0.attention.self.query.weight"]);
        Assert.Equal(ModelPresets.TinyLogitScaleInit, saved["logit_scale"].ToFloat32()[0], 4);
        Assert.Equal([8L, 16L], clip["visual_projection.weight"].Shape);
        Assert.Equal([128L, 16L], saved["visual_projection.weight"].Shape);
    }

    [Fact]
    public void ExtendVocab_GrowsVocabularyAndEmbeddingTableTogether_EachNewRowTheMeanOfItsPieces()
    {
        string bertFolder = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Pretrained", "bert");
        // A learning rate of 1e-12 keeps the weights where loading put them, to within float32 rounding.
        TrainingOptions Extended(int steps) => Options(steps) with { TextEncoder = bertFolder, ExtendVocab = 3, LearningRate = 1e-12, Augment = false };
        var messages = new List<string>();
        TrainingRun.Execute(Extended(1), CpuBackend.Instance, new Messages(messages), resume: false, CancellationToken.None);
        Assert.Equal(2, TrainingRun.Execute(Extended(2), CpuBackend.Instance, null, resume: true, CancellationToken.None).Steps);

        string checkpoint = CheckpointStore.Latest(_dir)!;
        var pretrainedVocab = File.ReadAllLines(Path.Combine(bertFolder, "vocab.txt"));
        var vocab = File.ReadAllLines(Path.Combine(checkpoint, "vocab.txt"));
        var record = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, TrainingRun.VocabExtensionFile)))!;
        var added = record["added"]!.AsArray().Select(w => (string)w!["word"]!).ToList();
        Assert.Equal(3, added.Count);
        Assert.Equal([.. pretrainedVocab, .. added], vocab);
        Assert.True((double)record["pieces_per_word_after"]! < (double)record["pieces_per_word_before"]!);
        Assert.Contains(messages, m => m.StartsWith("Vocabulary extended by 3 report words") && m.Contains("mean pieces per word"));

        var model = CheckpointModel.Load(checkpoint, CpuBackend.Instance);
        Assert.Equal(vocab.Length, model.Model.Config.Text.VocabSize);
        var pretrainedTokenizer = MedClip.Data.Text.ReportTokenizer.FromFolder(bertFolder);
        using var bert = SafetensorsFile.Read(Path.Combine(bertFolder, "model.safetensors"));
        using var saved = SafetensorsFile.Read(Path.Combine(checkpoint, "model.safetensors"));
        float[] before = bert["embeddings.word_embeddings.weight"].ToFloat32(), after = saved["text_model.embeddings.word_embeddings.weight"].ToFloat32();
        int width = (int)bert["embeddings.word_embeddings.weight"].Shape[1];
        Assert.Equal(vocab.Length * width, after.Length);
        for (int i = 0; i < added.Count; i++)
        {
            int id = pretrainedVocab.Length + i;
            Assert.Equal([id], ((MedClip.Data.Text.ReportTokenizer)model.Tokenizer).TokenIds(added[i]));
            var pieces = pretrainedTokenizer.TokenIds(added[i]);
            Assert.True(pieces.Count >= 2);
            for (int c = 0; c < width; c++)
                Assert.Equal(pieces.Average(p => before[p * width + c]), after[id * width + c], 5);
        }
        Assert.True(before.Zip(after, (x, y) => Math.Abs(x - y)).Max() < 1e-6);
    }

    private sealed class Messages(List<string> sink) : ITrainingObserver
    {
        public void OnStep(StepReport report) { }

        public void OnMessage(string message) => sink.Add(message);
    }

    [Fact]
    public void ExtendVocab_WithoutATextEncoder_IsOneClearSentence()
    {
        var e = Assert.Throws<ArgumentException>(() => (Options(1) with { ExtendVocab = 5 }).Validate(1));
        Assert.Contains("--extend-vocab", e.Message);
        Assert.Contains("--text-encoder", e.Message);
    }

    [Fact]
    public void GlobalBatchNotDivisibleByTheRanks_IsOneClearSentence_BeforeAnythingIsWritten()
    {
        var options = Options(1) with { BatchSize = 6, OutputDirectory = Path.Combine(_dir, "odd") };
        var e = Assert.Throws<ArgumentException>(() => ThreadedRanks.Run(4, comm =>
            TrainingRun.Execute(options, CpuBackend.Instance, null, resume: false, CancellationToken.None, comm)));
        Assert.Equal("--batch-size 6 is the global batch and must be divisible by the 4 ranks; use a multiple of 4.", e.Message);
        Assert.False(Directory.Exists(options.OutputDirectory));
    }

    [Fact]
    public void FewerTrainingSamplesThanOneBatch_IsOneClearSentence()
    {
        var options = Options(1) with { SyntheticStudies = 20, BatchSize = 40 };
        var e = Assert.Throws<InvalidDataException>(() => TrainingRun.Execute(options, CpuBackend.Instance, null, resume: false, CancellationToken.None));
        Assert.Matches(@"^Only \d+ usable training samples, fewer than one batch of 40; lower --batch-size or add data\.$", e.Message);
    }

    private static void AssertNear(SafetensorsTensor expected, SafetensorsTensor actual)
    {
        float[] e = expected.ToFloat32(), a = actual.ToFloat32();
        Assert.Equal(e.Length, a.Length);
        Assert.True(e.Zip(a, (x, y) => Math.Abs(x - y)).Max() < 1e-6, $"{actual.Name} moved away from {expected.Name}.");
    }

    [Fact]
    public void StartedFromClip_WritesClipModelCheckpointsThatResumeAndEvaluate()
    {
        string clip = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Clip", "model");
        var options = Options(2) with { Model = clip, BatchSize = 4, Augment = false };
        TrainingRun.Execute(options, CpuBackend.Instance, null, resume: false, CancellationToken.None);
        TrainingRun.Execute(options with { Steps = 3 }, CpuBackend.Instance, null, resume: true, CancellationToken.None);

        string checkpoint = CheckpointStore.Latest(_dir)!;
        Assert.EndsWith("checkpoint-0000003", checkpoint);
        foreach (var file in new[] { "config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                     "preprocessor_config.json" })
            Assert.True(File.Exists(Path.Combine(checkpoint, file)), file);
        Assert.False(File.Exists(Path.Combine(checkpoint, "vocab.txt")));
        Assert.Equal(File.ReadAllText(Path.Combine(clip, "merges.txt")), File.ReadAllText(Path.Combine(checkpoint, "merges.txt")));
        using (var saved = SafetensorsFile.Read(Path.Combine(checkpoint, "model.safetensors")))
        using (var original = SafetensorsFile.Read(Path.Combine(clip, "model.safetensors")))
        {
            Assert.Equal(original.Tensors.Keys.Where(n => !n.EndsWith("position_ids")).Order(), saved.Tensors.Keys.Order());
            // Trained: the weights moved away from CLIP's.
            Assert.NotEqual(original["text_projection.weight"].ToFloat32(), saved["text_projection.weight"].ToFloat32());
        }

        var model = CheckpointModel.Load(checkpoint, CpuBackend.Instance);
        Assert.Equal(CheckpointLayout.ClipModel, model.Model.Config.Layout);
        Assert.Equal(77, model.ContextLength);
        Assert.Equal($"CLIP: {clip}", StartingPoint.ForCheckpoint(checkpoint));
        var data = DatasetSpec.Parse("synthetic").Load(_dir, model.Images.Size, seed: 0);
        var evaluation = new EvaluationOptions("test", checkpoint, "synthetic", "test", PromptSet.Default, UncertainLabels.Exclude, Resamples: 20,
            StartingPoint: StartingPoint.ForCheckpoint(checkpoint));
        string evalDir = Path.Combine(_dir, "eval");
        EvaluationOutputs.Write(EvaluationRun.Run(model, data.Test, data.Train, evaluation), evalDir);
        Assert.Contains($"| starting point | CLIP: {clip} |", File.ReadAllText(Path.Combine(evalDir, "report.md")));
    }

    [Fact]
    public void TrainingFromShards_TokenisesWithTheVocabularyStoredBesideThem()
    {
        string source = Path.Combine(_dir, "source"), shards = Path.Combine(_dir, "shards"), run = Path.Combine(_dir, "run");
        MedClip.Data.Synthetic.SyntheticChestXrayGenerator.Generate(source, 60, 64, seed: 5);
        var data = DatasetSpec.Parse("mimic:" + source).Load(_dir, 64, seed: 0);
        // Built from the test texts, so it differs from the vocabulary a run would build from the training texts.
        var tokenizer = new MedClip.Data.Text.ReportTokenizer(MedClip.Data.Text.WordPieceVocabularyBuilder.Build(data.Test.Select(s => s.Text)));
        MedClip.Data.Shards.DatasetPrep.Run(data, "mimic:" + source, shards, 64, tokenizer, shardSize: 25, workers: 2);

        TrainingRun.Execute(Options(1) with { Data = "shards:" + shards, OutputDirectory = run }, CpuBackend.Instance, null, resume: false, CancellationToken.None);

        Assert.Equal(File.ReadAllBytes(Path.Combine(shards, "vocab.txt")), File.ReadAllBytes(Path.Combine(run, "vocab.txt")));
        var built = MedClip.Data.Text.WordPieceVocabularyBuilder.Build(data.Train.Select(s => s.Text));
        Assert.NotEqual(built.Count, MedClip.Data.Text.ReportTokenizer.FromFolder(run).VocabularySize);
    }

    [Fact]
    public void DatasetSpec_UnknownKind_IsOneClearSentence()
    {
        var e = Assert.Throws<ArgumentException>(() => DatasetSpec.Parse("imagenet"));
        Assert.Contains("mimic:DIR", e.Message);
        Assert.Contains("shards:DIR", e.Message);
    }
}
