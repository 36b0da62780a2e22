using MedClip.Optim;

namespace MedClip.Training;

/// <summary>
/// The skipped steps a read of the <see cref="StepLedger"/> brings, handled in order as if each had been seen when it
/// happened: a metrics line and a message each, and after --max-non-finite of them in a row (no applied step between:
/// the same count of steps applied before each) the run stops naming the last good checkpoint.
/// </summary>
internal sealed class NonFiniteSteps(TrainingOptions options, ITrainingObserver? observer)
{
    private int _consecutive;
    private int _lastSkippedAt = -1;

    public void Report(IReadOnlyList<SkippedStep> skipped, string? lastCheckpoint, StepLog? log)
    {
        foreach (var step in skipped)
        {
            _consecutive = step.Step == _lastSkippedAt ? _consecutive + 1 : 1;
            _lastSkippedAt = step.Step;
            string nonFinite = !double.IsFinite(step.Loss) ? "loss" : "gradient norm";
            log?.Skipped(step.Step, step.Loss, step.GradNorm, nonFinite);
            observer?.OnMessage($"Step {step.Step + 1}: the {nonFinite} is {(nonFinite == "loss" ? step.Loss : step.GradNorm)}; the step was skipped.");
            if (_consecutive < options.MaxNonFiniteSteps) continue;
            string? good = lastCheckpoint ?? CheckpointStore.Latest(options.OutputDirectory);
            throw new TrainingStoppedException($"Training stopped: {_consecutive} consecutive steps with a non-finite loss or gradient norm (lower --lr or check the data); " +
                (good is null ? "no checkpoint was written." : $"the last good checkpoint is {good}."));
        }
    }
}
