using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Data.Loading;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using MedClip.Training;

namespace MedClip.Tests.Distributed;

/// <summary>
/// The trainer on simulated ranks (threads) against the single-process trainer with the same global batch: the loss of
/// every step and the parameters at the end agree to 1e-5 in float, for the global and the local loss.
/// </summary>
public sealed class DataParallelTrainerTests : IDisposable
{
    private const int ImageSize = 16, Context = 6, GlobalBatch = 6;
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-dp-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Reproducible random global batches; with a shard, only that rank's contiguous slice of each.</summary>
    private sealed class RandomBatches(int batchesPerEpoch, BatchShard? shard = null) : IBatchSource
    {
        public int BatchesPerEpoch => batchesPerEpoch;

        public IEnumerable<Batch> Epoch(int epoch, int startBatch)
        {
            int count = shard is null ? GlobalBatch : GlobalBatch / shard.Count, first = shard is null ? 0 : shard.Rank * count;
            for (int i = startBatch; i < batchesPerEpoch; i++)
            {
                var rng = new Random(epoch * 1000 + i);
                var pixels = Enumerable.Range(0, GlobalBatch * 3 * ImageSize * ImageSize).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
                var ids = Enumerable.Range(0, GlobalBatch * Context).Select(_ => rng.Next(5, 30)).ToArray();
                var mask = Enumerable.Range(0, GlobalBatch * Context).Select(t => t % Context < 4 ? 1 : 0).ToArray();
                int pixelsPer = 3 * ImageSize * ImageSize;
                yield return new Batch(pixels[(first * pixelsPer)..((first + count) * pixelsPer)], ids[(first * Context)..((first + count) * Context)],
                    mask[(first * Context)..((first + count) * Context)], [.. Enumerable.Range(i * GlobalBatch + first, count)]);
            }
        }
    }

    private static DualEncoder Model()
    {
        var layer = new TransformerConfig(16, 2, 32, Activation.GeluErf, 1e-12);
        var config = new DualEncoderConfig(new VisionConfig(ImageSize, 8, 3, 1, layer), new TextConfig(30, Context, 2, 1, layer), 8);
        return new DualEncoder(new Init(CpuBackend.Instance, DType.F32, 7), config);
    }

    private TrainingOptions Options(string name, bool localLoss = false) => new()
    {
        Steps = 5, BatchSize = GlobalBatch, AccumulationSteps = 2, LearningRate = 1e-3, WarmupSteps = 1, LogEvery = 1, ValidateEvery = 1000,
        CheckpointEvery = 1000, LocalLoss = localLoss, OutputDirectory = Path.Combine(_dir, name),
    };

    private static double[] Losses(string run) =>
        MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Where(l => l["loss"] is not null).Select(l => (double)l["loss"]!).ToArray();

    [Theory]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public void SimulatedRanks_RepeatTheSingleProcessRun(int ranks, bool localLoss)
    {
        var single = Model();
        new Trainer(Options("single"), single, Context, []).Run(new RandomBatches(4), null, null, CancellationToken.None);

        var parallel = ThreadedRanks.Run(ranks, comm =>
        {
            var model = Model();
            new Trainer(Options("parallel", localLoss), model, Context, [], null, comm)
                .Run(new RandomBatches(4, new BatchShard(comm.Rank, comm.WorldSize)), null, null, CancellationToken.None);
            return model;
        });

        double[] expected = Losses(Path.Combine(_dir, "single")), actual = Losses(Path.Combine(_dir, "parallel"));
        Assert.Equal(5, expected.Length);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5, $"step {i + 1}: {actual[i]} vs {expected[i]}");
        var reference = single.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor.ToArray<float>());
        foreach (var model in parallel)
        {
            foreach (var (name, tensor) in model.NamedParameters())
            {
                float[] got = tensor.ToArray<float>(), want = reference[name];
                double worst = got.Zip(want, (a, b) => (double)Math.Abs(a - b)).Max();
                Assert.True(worst < 1e-5, $"{name} differs by {worst}");
            }
        }
        Assert.Equal(parallel[0].NamedParameters().Select(p => p.Tensor.ToArray<float>()), parallel[^1].NamedParameters().Select(p => p.Tensor.ToArray<float>()));
    }

    private sealed class CancelAt(int step, CancellationTokenSource source) : ITrainingObserver
    {
        public void OnStep(StepReport report)
        {
            if (report.Step == step) source.Cancel();
        }

        public void OnMessage(string message) { }
    }

    [Fact]
    public void InterruptOnRankZero_StopsEveryRankAtOneStep_AndResumeRepeatsTheSingleProcessRun()
    {
        new Trainer(Options("single"), Model(), Context, []).Run(new RandomBatches(4), null, null, CancellationToken.None);
        var parted = Options("parted");
        using var cancel = new CancellationTokenSource();
        // Only rank 0 sees the interruption (as with Ctrl-C reaching one process first); the ranks agree on it before the next step.
        var first = ThreadedRanks.Run(2, comm => new Trainer(parted, Model(), Context, [], comm.Rank == 0 ? new CancelAt(3, cancel) : null, comm)
            .Run(new RandomBatches(4, new BatchShard(comm.Rank, 2)), null, null, comm.Rank == 0 ? cancel.Token : CancellationToken.None));
        Assert.All(first, s => Assert.True(s.Interrupted));
        Assert.All(first, s => Assert.Equal(3, s.Steps));
        Assert.Single(Directory.GetDirectories(parted.OutputDirectory, "checkpoint-*"));

        var second = ThreadedRanks.Run(2, comm => new Trainer(parted, Model(), Context, [], null, comm)
            .Run(new RandomBatches(4, new BatchShard(comm.Rank, 2)), null, parted.OutputDirectory, CancellationToken.None));
        Assert.All(second, s => Assert.Equal(5, s.Steps));
        double[] expected = Losses(Path.Combine(_dir, "single")), actual = Losses(parted.OutputDirectory);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5, $"step {i + 1}: {actual[i]} vs {expected[i]}");
    }
}
