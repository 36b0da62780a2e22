using MedClip.Autograd;
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

    /// <summary>
    /// Random but reproducible batches: batch i of epoch e is a function of (e, i) only. Batches from the run's
    /// <paramref name="poisonFrom"/>-th (0-based) up to <paramref name="poisonUntil"/> hold a NaN pixel.
    /// </summary>
    internal sealed class RandomBatches(int batchesPerEpoch, int poisonFrom = int.MaxValue, int poisonUntil = int.MaxValue) : IBatchSource
    {
        public int BatchesPerEpoch => batchesPerEpoch;

        public IEnumerable<Batch> Epoch(int epoch, int startBatch)
        {
            for (int i = startBatch; i < batchesPerEpoch; i++)
            {
                var rng = new Random(epoch * 1000 + i);
                var pixels = new float[BatchSize * 3 * ImageSize * ImageSize];
                for (int p = 0; p < pixels.Length; p++) pixels[p] = (float)(rng.NextDouble() * 2 - 1);
                if (epoch * batchesPerEpoch + i >= poisonFrom && epoch * batchesPerEpoch + i < poisonUntil) pixels[0] = float.NaN;
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

    internal static DualEncoder Model(int layers = 1, int adapters = 0, ComputePolicy? compute = null)
    {
        var layer = new TransformerConfig(16, 2, 32, Activation.GeluErf, 1e-12);
        var config = new DualEncoderConfig(new VisionConfig(ImageSize, 8, 3, layers, layer), new TextConfig(30, Context, 2, layers, layer), 8, AdapterDim: adapters);
        return new DualEncoder(new Init(CpuBackend.Instance, DType.F32, 7, compute), config);
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
        Precision = ComputePolicy.Parse(precision, "gemm").Precision,
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
        new Trainer(whole, Model(compute: whole.Compute), Context, []).Run(new RandomBatches(3), null, null, CancellationToken.None);

        var parted = Options("parted", precision);
        using var cancel = new CancellationTokenSource();
        var first = new Trainer(parted, Model(compute: parted.Compute), Context, [], new CancelAt(4, cancel)).Run(new RandomBatches(3), null, null, cancel.Token);
        Assert.True(first.Interrupted);
        Assert.Equal(4, first.Steps);
        var second = new Trainer(parted, Model(compute: parted.Compute), Context, []).Run(new RandomBatches(3), null, parted.OutputDirectory, CancellationToken.None);
        Assert.Equal(7, second.Steps);

        var expected = Losses(whole.OutputDirectory);
        Assert.Equal(7, expected.Length);
        Assert.Equal(expected, Losses(parted.OutputDirectory));
    }

    [Theory]
    [InlineData("fp32")]
    [InlineData("bf16")]
    public void Resume_WithAdapters_RepeatsTheUninterruptedLossesExactly(string precision)
    {
        var whole = Options("adapters-whole", precision) with { Adapters = 3 };
        new Trainer(whole, Model(adapters: 3, compute: whole.Compute), Context, []).Run(new RandomBatches(3), null, null, CancellationToken.None);

        var parted = Options("adapters-parted", precision) with { Adapters = 3 };
        using var cancel = new CancellationTokenSource();
        Assert.True(new Trainer(parted, Model(adapters: 3, compute: parted.Compute), Context, [], new CancelAt(3, cancel)).Run(new RandomBatches(3), null, null, cancel.Token).Interrupted);
        var withoutAdapters = Assert.Throws<InvalidDataException>(() =>
            new Trainer(parted with { Adapters = 0 }, Model(compute: parted.Compute), Context, []).Run(new RandomBatches(3), null, parted.OutputDirectory, CancellationToken.None));
        Assert.Contains("resume it with --adapters 3", withoutAdapters.Message);
        var resumed = Model(adapters: 3, compute: parted.Compute);
        new Trainer(parted, resumed, Context, []).Run(new RandomBatches(3), null, parted.OutputDirectory, CancellationToken.None);

        Assert.Equal(Losses(whole.OutputDirectory), Losses(parted.OutputDirectory));
        Assert.Equal(7, Losses(parted.OutputDirectory).Length);
        using var final = MedClip.IO.SafetensorsFile.Read(Path.Combine(CheckpointStore.Latest(whole.OutputDirectory)!, CheckpointStore.WeightsFile));
        foreach (var (name, tensor) in resumed.NamedParameters()) Assert.Equal(final[name].ToFloat32(), tensor.ToArray<float>());
    }

    [Fact]
    public void Adapters_TrainOnlyAdaptersNormsProjectionsAndLogitScale_AndRecordTheCount()
    {
        var model = Model(layers: 2, adapters: 3);
        var options = Options("adapters") with { Steps = 2, Adapters = 3, LearningRate = 1e-2 };
        var messages = new Messages();

        var changes = Changes(model, () => new Trainer(options, model, Context, [], messages).Run(new RandomBatches(2), null, null, CancellationToken.None));

        static bool Trainable(string name) => !DualEncoder.IsTowerParameter(name) || name.Contains(".adapter.") || name.Contains("LayerNorm.")
            || name.Contains("layernorm");
        Assert.All(changes.Where(c => !Trainable(c.Key)), c => Assert.True(c.Value == 0, $"{c.Key} moved by {c.Value}."));
        Assert.All(changes.Where(c => Trainable(c.Key) && c.Key != "logit_scale"), c => Assert.True(c.Value > 0, $"{c.Key} did not move."));
        Assert.All(model.NamedParameters().Where(p => !Trainable(p.Name)), p => Assert.Null(p.Tensor.Grad));
        // Two towers x 2 layers x 2 adapters x (16*3 + 3 + 3*16 + 16) parameters.
        Assert.Equal(8 * 115, model.NamedParameters().Where(p => p.Name.Contains(".adapter.")).Sum(p => p.Tensor.Length));

        long trainable = model.NamedParameters().Where(p => Trainable(p.Name)).Sum(p => p.Tensor.Length);
        var state = TrainerState.Read(Path.Combine(CheckpointStore.Latest(options.OutputDirectory)!, CheckpointStore.StateFile));
        Assert.Equal(trainable, state.TrainableParameters);
        Assert.Equal(model.Parameters().Sum(p => p.Length), state.TotalParameters);
        Assert.Contains(messages.Lines, m => m.StartsWith($"Adapters of dimension 3: {trainable:N0} of {state.TotalParameters:N0} parameters train ({8 * 115:N0} of them in adapters)"));
    }

    [Fact]
    public void Adapters_OptionAndModelMustAgree() =>
        Assert.Throws<ArgumentException>(() => new Trainer(Options("disagree") with { Adapters = 4 }, Model(adapters: 3), Context, []));

    [Fact]
    public void ASourceWithoutABatch_IsRefusedAsAnArgument_NotLoopedOver()
    {
        var trainer = new Trainer(Options("empty"), Model(), Context, []);
        var e = Assert.Throws<ArgumentException>(() => trainer.Run(new RandomBatches(0), null, null, CancellationToken.None));
        Assert.Equal("train", e.ParamName);
    }

    /// <summary>A loader over 14 items of which 2, 7 and 12 are always skipped: 11 usable, 2 full batches an epoch.</summary>
    private static PrefetchingBatchLoader<int> SkippingLoader() => new(Enumerable.Range(0, 14).ToList(), BatchSize, seed: 3, (item, _) =>
    {
        if (item % 5 == 2) throw new SampleSkippedException("unreadable file", $"item {item} cannot be read");
        var rng = new Random(item);
        var pixels = new float[3 * ImageSize * ImageSize];
        for (int p = 0; p < pixels.Length; p++) pixels[p] = (float)(rng.NextDouble() * 2 - 1);
        int[] ids = [.. Enumerable.Range(0, Context).Select(_ => rng.Next(5, 30))];
        return new PreparedSample(pixels, ids, [1, 1, 1, 1, 0, 0]);
    }, workerCount: 2, dropLast: true);

    [Fact]
    public void Resume_WithSkippedItems_IsExact_AndSkipCountsAddUpOverTheRun()
    {
        var whole = Options("skips-whole");
        using (var loader = SkippingLoader()) new Trainer(whole, Model(), Context, []).Run(loader, null, null, CancellationToken.None);

        var parted = Options("skips-parted") with { CheckpointEvery = 1 };
        using (var cancel = new CancellationTokenSource())
        using (var loader = SkippingLoader())
            Assert.True(new Trainer(parted, Model(), Context, [], new CancelAt(3, cancel)).Run(loader, null, null, cancel.Token).Interrupted);
        TrainingSummary second;
        using (var loader = SkippingLoader()) second = new Trainer(parted, Model(), Context, []).Run(loader, null, parted.OutputDirectory, CancellationToken.None);

        Assert.Equal(Losses(whole.OutputDirectory), Losses(parted.OutputDirectory));
        // 7 steps = epochs 0 to 2 (2 batches each) and epoch 3's first batch: the skips met on the way to each batch, summed.
        long expected = 0;
        using (var loader = SkippingLoader())
        {
            foreach (var (epoch, batches) in new[] { (0, 2), (1, 2), (2, 2), (3, 1) })
            {
                int usable = 0;
                foreach (int item in loader.EpochOrder(epoch).TakeWhile(_ => usable < batches * BatchSize))
                {
                    if (item % 5 == 2) expected++;
                    else usable++;
                }
            }
        }
        var state = TrainerState.Read(Path.Combine(second.LastCheckpoint!, CheckpointStore.StateFile));
        Assert.Equal(expected, state.Skipped["unreadable file"]);
        Assert.Equal(expected, second.Skipped["unreadable file"]);
        Assert.True(expected > 3, "the count spans epochs");
        Assert.Equal(7, Losses(parted.OutputDirectory).Length);
    }

    [Fact]
    public void NonFiniteLoss_SkipsSteps_ThenStopsWithClearMessage()
    {
        var options = Options("nan") with { MaxNonFiniteSteps = 3 };
        var e = Assert.Throws<TrainingStoppedException>(() =>
            new Trainer(options, Model(), Context, []).Run(new RandomBatches(3, poisonFrom: 0), null, null, CancellationToken.None));
        Assert.Contains("3 consecutive steps with a non-finite loss or gradient norm", e.Message);
        Assert.Contains("no checkpoint was written", e.Message);
        var lines = MetricsLog.Read(Path.Combine(options.OutputDirectory, "metrics.jsonl"));
        Assert.Equal(3, lines.Count(l => (string?)l["skipped"] == "non-finite loss"));
        Assert.All(lines, l => Assert.Equal("not a finite number (NaN)", (string?)l["loss_undefined_reason"]));
    }

    [Fact]
    public void NonFiniteLoss_AfterACheckpoint_NamesThatCheckpoint()
    {
        var options = Options("nan-late") with { MaxNonFiniteSteps = 2, CheckpointEvery = 2 };
        var e = Assert.Throws<TrainingStoppedException>(() =>
            new Trainer(options, Model(), Context, []).Run(new RandomBatches(3, poisonFrom: 3), null, null, CancellationToken.None));
        Assert.EndsWith($"the last good checkpoint is {Path.Combine(options.OutputDirectory, "checkpoint-0000002")}.", e.Message);
    }

    [Fact]
    public void NonFiniteValidationLoss_IsLoggedAsNullWithAReason_AndTrainingFinishes()
    {
        var options = Options("nan-val") with { Steps = 2, ValidateEvery = 1 };
        var summary = new Trainer(options, Model(), Context, []).Run(new RandomBatches(3), new RandomBatches(1, poisonFrom: 0), null, CancellationToken.None);
        Assert.Equal(2, summary.Steps);
        Assert.Null(summary.LastValidationLoss);
        var validation = MetricsLog.Read(Path.Combine(options.OutputDirectory, "metrics.jsonl")).Where(l => l.ContainsKey("val_loss")).ToList();
        Assert.Equal(2, validation.Count);
        Assert.All(validation, l => Assert.Null(l["val_loss"]));
        Assert.All(validation, l => Assert.Equal("not a finite number (NaN)", (string?)l["val_loss_undefined_reason"]));
        Assert.Null(TrainerState.Read(Path.Combine(summary.LastCheckpoint!, CheckpointStore.StateFile)).LastValidationLoss);
    }

    private sealed class Messages : ITrainingObserver
    {
        public List<string> Lines { get; } = [];

        public void OnStep(StepReport report) { }

        public void OnMessage(string message) => Lines.Add(message);
    }

    [Fact]
    public void CollapsedLogitScale_IsWarnedAboutOnce()
    {
        var model = Model();
        CpuBackend.Instance.Fill(model.LogitScale, -3.0);
        var messages = new Messages();
        new Trainer(Options("collapse") with { Steps = 3 }, model, Context, [], messages).Run(new RandomBatches(3), null, null, CancellationToken.None);
        Assert.Single(messages.Lines, l => l.StartsWith("Warning: at step 1 the logit scale is -3.0", StringComparison.Ordinal));
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
