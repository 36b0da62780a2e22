using MedClip.Training;

namespace MedClip.Tests.Training;

/// <summary>--warmup longer than the run is said before training; --val-every 0 validates never, N every N steps and at the end.</summary>
public sealed class TrainerFlagTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-trainer-flags-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Messages : ITrainingObserver
    {
        public List<string> Lines { get; } = [];

        public void OnStep(StepReport report) { }

        public void OnMessage(string message) => Lines.Add(message);
    }

    private List<long> ValidatedSteps(int steps, int warmup, int validateEvery, Messages messages)
    {
        var options = new TrainingOptions
        {
            Steps = steps, BatchSize = TrainerTests.BatchSize, WarmupSteps = warmup, ValidateEvery = validateEvery, LogEvery = 1, CheckpointEvery = 1000,
            OutputDirectory = Path.Combine(_dir, $"run-{steps}-{warmup}-{validateEvery}"),
        };
        new Trainer(options, TrainerTests.Model(), TrainerTests.Context, [], messages)
            .Run(new TrainerTests.RandomBatches(2), new TrainerTests.RandomBatches(1), null, CancellationToken.None);
        return MetricsLog.Read(Path.Combine(options.OutputDirectory, MetricsReport.MetricsFile))
            .Where(l => l["val_loss"] is not null).Select(l => (long)l["step"]!).ToList();
    }

    [Fact]
    public void WarmupNotShorterThanTheRun_IsSaidOnce()
    {
        var messages = new Messages();
        ValidatedSteps(steps: 3, warmup: 3, validateEvery: 0, messages);
        Assert.Single(messages.Lines, l => l.StartsWith("Warning: --warmup 3 is not shorter than the run's 3 steps"));

        var quiet = new Messages();
        ValidatedSteps(steps: 3, warmup: 2, validateEvery: 0, quiet);
        Assert.DoesNotContain(quiet.Lines, l => l.Contains("--warmup"));
    }

    [Fact]
    public void ValidateEvery_ZeroNever_OtherwiseEveryNStepsAndTheLast()
    {
        Assert.Empty(ValidatedSteps(steps: 5, warmup: 1, validateEvery: 0, new Messages()));
        Assert.Equal([2L, 4, 5], ValidatedSteps(steps: 5, warmup: 1, validateEvery: 2, new Messages()));
    }
}
