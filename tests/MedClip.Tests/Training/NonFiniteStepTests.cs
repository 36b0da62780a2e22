using System.Text.Json.Nodes;
using MedClip.Training;

namespace MedClip.Tests.Training;

/// <summary>
/// A non-finite step is skipped on the device and the host learns of it when it next reads the step ledger: the run must
/// be the same as when it reads after every step (--log-every 1), bit for bit.
/// </summary>
public sealed class NonFiniteStepTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-nonfinite-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private TrainingOptions Options(string name, int logEvery) => new()
    {
        Steps = 6, BatchSize = TrainerTests.BatchSize, LearningRate = 1e-3, WarmupSteps = 2, LogEvery = logEvery, ValidateEvery = 0,
        CheckpointEvery = 1000, OutputDirectory = Path.Combine(_dir, name),
    };

    private static IReadOnlyList<JsonObject> Lines(TrainingOptions options) => MetricsLog.Read(Path.Combine(options.OutputDirectory, "metrics.jsonl"));

    [Fact]
    public void SkippedStep_GivesTheSameRun_WhenTheHostLearnsOfItSteps_Later()
    {
        // The run's second batch has a NaN pixel: 7 batches make 6 steps.
        var everyStep = Options("every-step", 1);
        var everyStepModel = TrainerTests.Model();
        var everyStepSummary = new Trainer(everyStep, everyStepModel, TrainerTests.Context, [])
            .Run(new TrainerTests.RandomBatches(4, poisonFrom: 1, poisonUntil: 2), null, null, CancellationToken.None);
        var everyThird = Options("every-third", 3);
        var everyThirdModel = TrainerTests.Model();
        var everyThirdSummary = new Trainer(everyThird, everyThirdModel, TrainerTests.Context, [])
            .Run(new TrainerTests.RandomBatches(4, poisonFrom: 1, poisonUntil: 2), null, null, CancellationToken.None);

        Assert.Equal(6, everyThirdSummary.Steps);
        Assert.Equal(everyStepSummary.LastLoss, everyThirdSummary.LastLoss);
        var state = TrainerState.Read(Path.Combine(everyThirdSummary.LastCheckpoint!, CheckpointStore.StateFile));
        Assert.Equal(7, state.ConsumedBatches);
        foreach (var (name, tensor) in everyStepModel.NamedParameters())
            Assert.Equal(tensor.ToArray<float>(), everyThirdModel.NamedParameters().Single(p => p.Name == name).Tensor.ToArray<float>());

        var skipped = Assert.Single(Lines(everyThird), l => l.ContainsKey("skipped"));
        Assert.Equal(1, (int)skipped["step"]!);
        Assert.Equal("non-finite loss", (string?)skipped["skipped"]);
        Assert.Equal(Lines(everyStep).Single(l => l.ContainsKey("skipped")).ToJsonString(), skipped.ToJsonString());
        // Steps 3 and 6 are logged with the values of the run that read after every step.
        var logged = Lines(everyThird).Where(l => l.ContainsKey("lr")).ToList();
        Assert.Equal(new[] { 3, 6 }, logged.Select(l => (int)l["step"]!));
        foreach (var line in logged)
        {
            var same = Lines(everyStep).Single(l => l.ContainsKey("lr") && (int)l["step"]! == (int)line["step"]!);
            foreach (string key in new[] { "loss", "lr", "logit_scale", "grad_norm", "epoch" }) Assert.Equal((double)same[key]!, (double)line[key]!);
        }
    }

    [Fact]
    public void NonFiniteStepsInARow_StopTheRunAtTheLimit_EvenWhenTheHostReadsLater()
    {
        var options = Options("in-a-row", 5) with { MaxNonFiniteSteps = 2 };
        var e = Assert.Throws<TrainingStoppedException>(() => new Trainer(options, TrainerTests.Model(), TrainerTests.Context, [])
            .Run(new TrainerTests.RandomBatches(4, poisonFrom: 1), null, null, CancellationToken.None));
        Assert.StartsWith("Training stopped: 2 consecutive steps with a non-finite loss or gradient norm", e.Message);
        Assert.Equal(new[] { 1, 1 }, Lines(options).Where(l => l.ContainsKey("skipped")).Select(l => (int)l["step"]!));
    }
}
