using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Data.Loading;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using MedClip.Training;

namespace MedClip.Tests.Training;

public sealed class TrainerTests : IDisposable
{
    internal const int ImageSize = 16, Context = 6, BatchSize = 4;
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-trainer-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Random but reproducible batches: batch i of epoch e is a function of (e, i) only.</summary>
    internal sealed class RandomBatches(int batchesPerEpoch, bool poisonFirst = false) : IBatchSource
    {
        public int BatchesPerEpoch => batchesPerEpoch;

        public IEnumerable<Batch> Epoch(int epoch, int startBatch)
        {
            for (int i = startBatch; i < batchesPerEpoch; i++)
            {
                var rng = new Random(epoch * 1000 + i);
                var pixels = new float[BatchSize * 3 * ImageSize * ImageSize];
                for (int p = 0; p < pixels.Length; p++) pixels[p] = (float)(rng.NextDouble() * 2 - 1);
                if (poisonFirst) pixels[0] = float.NaN;
                var ids = new int[BatchSize * Context];
                var mask = new int[BatchSize * Context];
                for (int t = 0; t < ids.Length; t++)
                {
                    ids[t] = rng.Next(5, 30);
                    mask[t] = t % Context < 4 ? 1 : 0;
                }
                yield return new Batch(pixels, ids, mask, Enumerable.Range(i * BatchSize, BatchSize).ToArray());
            }
        }
    }

    internal static DualEncoder Model(int layers = 1)
    {
        var layer = new TransformerConfig(16, 2, 32, Activation.GeluErf, 1e-12);
        var config = new DualEncoderConfig(new VisionConfig(ImageSize, 8, 3, layers, layer), new TextConfig(30, Context, 2, layers, layer), 8);
        return new DualEncoder(new Init(CpuBackend.Instance, DType.F32, 7), config);
    }

    private sealed class CancelAt(int step, CancellationTokenSource source) : ITrainingObserver
    {
        public void OnStep(StepReport report)
        {
            if (report.Step == step) source.Cancel();
        }

        public void OnMessage(string message) { }
    }

    private TrainingOptions Options(string name, string precision = "fp32") => new()
    {
        Precision = precision,
        Steps = 7, BatchSize = BatchSize, LearningRate = 1e-3, WarmupSteps = 2, LogEvery = 1, ValidateEvery = 1000,
        CheckpointEvery = 1000, OutputDirectory = Path.Combine(_dir, name),
    };

    private static double[] Losses(string run) =>
        MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Where(l => l["loss"] is not null).Select(l => (double)l["loss"]!).ToArray();

    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")] // the resumed run's BF16 weight copies must be refreshed from the loaded master weights
    public void Resume_AfterInterruption_RepeatsTheUninterruptedLossesExactly(string precision)
    {
        var whole = Options("whole", precision);
        new Trainer(whole, Model(), Context, []).Run(new RandomBatches(3), null, null, CancellationToken.None);

        var parted = Options("parted", precision);
        using var cancel = new CancellationTokenSource();
        var first = new Trainer(parted, Model(), Context, [], new CancelAt(4, cancel)).Run(new RandomBatches(3), null, null, cancel.Token);
        Assert.True(first.Interrupted);
        Assert.Equal(4, first.Steps);
        var second = new Trainer(parted, Model(), Context, []).Run(new RandomBatches(3), null, parted.OutputDirectory, CancellationToken.None);
        Assert.Equal(7, second.Steps);

        var expected = Losses(whole.OutputDirectory);
        Assert.Equal(7, expected.Length);
        Assert.Equal(expected, Losses(parted.OutputDirectory));
    }

    [Fact]
    public void NonFiniteLoss_SkipsSteps_ThenStopsWithClearMessage()
    {
        var options = Options("nan") with { MaxNonFiniteSteps = 3 };
        var e = Assert.Throws<TrainingStoppedException>(() =>
            new Trainer(options, Model(), Context, []).Run(new RandomBatches(3, poisonFirst: true), null, null, CancellationToken.None));
        Assert.Contains("3 consecutive non-finite losses", e.Message);
        var lines = MetricsLog.Read(Path.Combine(options.OutputDirectory, "metrics.jsonl"));
        Assert.Equal(3, lines.Count(l => (string?)l["skipped"] == "non-finite loss"));
    }

    [Fact]
    public void Training_LowersTheLoss_AndWritesMetricsAndCheckpoint()
    {
        var options = Options("learn") with { Steps = 30, LearningRate = 3e-3 };
        var summary = new Trainer(options, Model(), Context, []).Run(new RandomBatches(2), new RandomBatches(1), null, CancellationToken.None);
        var losses = Losses(options.OutputDirectory);
        Assert.Equal(30, losses.Length);
        Assert.True(losses[^3..].Average() < losses[..3].Average() * 0.7, $"loss {losses[0]:F3} -> {losses[^1]:F3}");
        Assert.NotNull(summary.LastValidationLoss);
        Assert.NotNull(summary.LastCheckpoint);
        Assert.True(File.Exists(Path.Combine(summary.LastCheckpoint!, "model.safetensors")));
    }

    /// <summary>Largest absolute change of each parameter between two snapshots, by name.</summary>
    private static Dictionary<string, double> Changes(DualEncoder model, Action train)
    {
        var before = model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor.ToArray<float>());
        train();
        return model.NamedParameters().ToDictionary(p => p.Name,
            p => p.Tensor.ToArray<float>().Zip(before[p.Name], (a, b) => (double)Math.Abs(a - b)).Max());
    }

    [Fact]
    public void LockImage_FreezesTheWholeImageTower_AndTrainsTheRest()
    {
        var model = Model();
        var options = Options("lock-image") with { Steps = 2, LockImage = true };

        var changes = Changes(model, () => new Trainer(options, model, Context, []).Run(new RandomBatches(2), null, null, CancellationToken.None));

        Assert.All(changes.Where(c => c.Key.StartsWith("vision_model.")), c => Assert.True(c.Value == 0, $"{c.Key} moved by {c.Value}."));
        Assert.All(changes.Where(c => !c.Key.StartsWith("vision_model.") && c.Key != "logit_scale"), c => Assert.True(c.Value > 0, $"{c.Key} did not move."));
        Assert.All(model.NamedParameters().Where(p => p.Name.StartsWith("vision_model.")), p => Assert.Null(p.Tensor.Grad));
    }

    [Fact]
    public void LockTextWithUnlockLast_TrainsOnlyTheTopLayerAndThePooler()
    {
        var model = Model(layers: 2);
        var options = Options("unlock-last") with { Steps = 2, LockText = true, UnlockLast = 1 };

        var changes = Changes(model, () => new Trainer(options, model, Context, []).Run(new RandomBatches(2), null, null, CancellationToken.None));

        var text = changes.Where(c => c.Key.StartsWith("text_model.")).ToList();
        bool Trainable(string name) => name.StartsWith("text_model.encoder.layer.1.") || name.StartsWith("text_model.pooler.");
        Assert.All(text.Where(c => !Trainable(c.Key)), c => Assert.True(c.Value == 0, $"{c.Key} moved by {c.Value}."));
        Assert.All(text.Where(c => Trainable(c.Key)), c => Assert.True(c.Value > 0, $"{c.Key} did not move."));
        Assert.True(changes["vision_model.encoder.layer.0.attention.attention.query.weight"] > 0);
    }

    [Fact]
    public void LearningRateTowers_ScalesOnlyTheTowersSteps()
    {
        var model = Model();
        var options = Options("lr-towers") with { Steps = 1, WarmupSteps = 0, LearningRate = 1e-3, LearningRateTowers = 1e-6, WeightDecay = 0 };

        var changes = Changes(model, () => new Trainer(options, model, Context, []).Run(new RandomBatches(2), null, null, CancellationToken.None));

        // AdamW's first step moves every element by about the learning rate (m / sqrt(v) = sign of the gradient).
        Assert.InRange(changes["visual_projection.weight"], 0.5e-3, 1.01e-3);
        Assert.InRange(changes["text_projection.weight"], 0.5e-3, 1.01e-3);
        Assert.InRange(changes["vision_model.encoder.layer.0.attention.attention.query.weight"], 0.5e-6, 1.01e-6);
        Assert.InRange(changes["text_model.encoder.layer.0.output.dense.weight"], 0.5e-6, 1.01e-6);
        var logged = MetricsLog.Read(Path.Combine(options.OutputDirectory, "metrics.jsonl")).Single();
        Assert.Equal(1e-3, (double)logged["lr"]!, 12);
        Assert.Equal(1e-6, (double)logged["lr_towers"]!, 12);
    }
}
