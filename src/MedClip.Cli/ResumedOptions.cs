using System.Text.Json;
using MedClip.Training;

namespace MedClip.Cli;

/// <summary>
/// --resume DIR continues the run in DIR as it was started: every option below that is not on the command line comes
/// from the run's train_options.json. Options that define the run (data, model, batch, seed) may be repeated but not
/// changed, since the saved data position and optimizer state only continue the same run; the others (--steps, --lr,
/// ...) may be changed on purpose.
/// </summary>
internal static class ResumedOptions
{
    private sealed record Field(string[] Options, Func<TrainingOptions, object?> Value, Func<TrainingOptions, TrainingOptions, TrainingOptions> TakeSaved, bool DefinesRun);

    private static Field Defining(string option, Func<TrainingOptions, object?> value, Func<TrainingOptions, TrainingOptions, TrainingOptions> take) => new([option], value, take, true);

    private static Field Free(string[] options, Func<TrainingOptions, object?> value, Func<TrainingOptions, TrainingOptions, TrainingOptions> take) => new(options, value, take, false);

    private static IReadOnlyList<Field> Fields(IEnumerable<string> dataOptionNames) =>
    [
        Defining("--data", o => o.Data, (o, s) => o with { Data = s.Data, SyntheticStudies = s.SyntheticStudies }),
        new([.. dataOptionNames], o => o.DataOptions, (o, s) => o with { DataOptions = s.DataOptions }, true),
        Defining("--model", o => o.Model, (o, s) => o with { Model = s.Model }),
        Defining("--image-encoder", o => o.ImageEncoder, (o, s) => o with { ImageEncoder = s.ImageEncoder }),
        Defining("--text-encoder", o => o.TextEncoder, (o, s) => o with { TextEncoder = s.TextEncoder }),
        Defining("--adapters", o => o.Adapters, (o, s) => o with { Adapters = s.Adapters }),
        Defining("--extend-vocab", o => o.ExtendVocab, (o, s) => o with { ExtendVocab = s.ExtendVocab }),
        Defining("--batch-size", o => o.BatchSize, (o, s) => o with { BatchSize = s.BatchSize }),
        Defining("--accumulation-steps", o => o.AccumulationSteps, (o, s) => o with { AccumulationSteps = s.AccumulationSteps }),
        Defining("--seed", o => o.Seed, (o, s) => o with { Seed = s.Seed }),
        Defining("--image-size", o => o.ImageSize, (o, s) => o with { ImageSize = s.ImageSize }),
        Free(["--steps", "--epochs"], o => (o.Steps, o.Epochs), (o, s) => o with { Steps = s.Steps, Epochs = s.Epochs }),
        Free(["--precision"], o => o.Precision, (o, s) => o with { Precision = s.Precision }),
        Free(["--attention"], o => o.Attention, (o, s) => o with { Attention = s.Attention }),
        Free(["--lr"], o => o.LearningRate, (o, s) => o with { LearningRate = s.LearningRate }),
        Free(["--lr-towers"], o => o.LearningRateTowers, (o, s) => o with { LearningRateTowers = s.LearningRateTowers }),
        Free(["--lock-image", "--lock-text", "--unlock-last"], o => (o.LockImage, o.LockText, o.UnlockLast),
            (o, s) => o with { LockImage = s.LockImage, LockText = s.LockText, UnlockLast = s.UnlockLast }),
        Free(["--warmup"], o => o.WarmupSteps, (o, s) => o with { WarmupSteps = s.WarmupSteps }),
        Free(["--sentence-keep"], o => o.SentenceKeepProbability, (o, s) => o with { SentenceKeepProbability = s.SentenceKeepProbability }),
        Free(["--drop-periods"], o => o.PeriodDropProbability, (o, s) => o with { PeriodDropProbability = s.PeriodDropProbability }),
        Free(["--no-augment"], o => o.Augment, (o, s) => o with { Augment = s.Augment }),
        Free(["--local-loss"], o => o.LocalLoss, (o, s) => o with { LocalLoss = s.LocalLoss }),
        Free(["--log-every"], o => o.LogEvery, (o, s) => o with { LogEvery = s.LogEvery }),
        Free(["--save-every"], o => o.CheckpointEvery, (o, s) => o with { CheckpointEvery = s.CheckpointEvery }),
        Free(["--keep-checkpoints"], o => o.KeepCheckpoints, (o, s) => o with { KeepCheckpoints = s.KeepCheckpoints }),
        Free(["--wd"], o => o.WeightDecay, (o, s) => o with { WeightDecay = s.WeightDecay }),
        Free(["--val-every"], o => o.ValidateEvery, (o, s) => o with { ValidateEvery = s.ValidateEvery }),
        Free(["--report-to"], o => string.Join(',', o.ReportTo), (o, s) => o with { ReportTo = s.ReportTo }),
    ];

    /// <summary>
    /// The options to continue <paramref name="runFolder"/> with; throws <see cref="UsageException"/> when the folder
    /// is missing, when --out names another folder, or when a given option that defines the run differs from the saved one.
    /// </summary>
    /// <param name="given">Names of the options on the command line.</param>
    public static TrainingOptions Merge(TrainingOptions command, string runFolder, string? output, IReadOnlySet<string> given, IEnumerable<string> dataOptionNames)
    {
        if (!Directory.Exists(runFolder))
            throw new UsageException($"--resume '{runFolder}' does not exist; give the folder of the run to continue.");
        if (output is not null && Path.GetFullPath(output) != Path.GetFullPath(runFolder))
            throw new UsageException($"--out '{output}' and --resume '{runFolder}' differ: a resumed run writes into its own folder; leave out --out.");
        var saved = TrainingRun.ReadOptions(runFolder);
        var merged = command with { OutputDirectory = runFolder };
        foreach (var field in Fields(dataOptionNames))
        {
            string? option = field.Options.FirstOrDefault(given.Contains);
            if (option is null)
            {
                merged = field.TakeSaved(merged, saved);
                continue;
            }
            if (field.DefinesRun && Json(field.Value(merged)) != Json(field.Value(saved)))
                throw new UsageException($"{option} {Json(field.Value(merged))} differs from the run's {Json(field.Value(saved))} " +
                    $"({Path.Combine(runFolder, TrainingRun.OptionsFile)}); leave it out to continue the run, or start a new run with --out.");
        }
        return merged;
    }

    // Defining values are strings, numbers and DatasetOptions, all part of TrainingOptions' generated contract.
    private static string Json(object? value) => value is null ? "null" : JsonSerializer.Serialize(value, value.GetType(), TrainingJsonContext.Default);
}
