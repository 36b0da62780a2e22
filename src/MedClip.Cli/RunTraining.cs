using MedClip.Training;

namespace MedClip.Cli;

/// <summary>Runs training with a progress display; Ctrl-C asks the trainer to checkpoint and stop.</summary>
internal static class RunTraining
{
    /// <summary>Returns the summary, or null when training stopped with a reason already printed.</summary>
    public static TrainingSummary? Train(TrainingOptions options, bool resume, CancellationToken cancel)
    {
        var backend = DeviceSelection.Resolve(options.Device);
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // finish the step, write a checkpoint, then exit
            interrupt.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var progress = new ConsoleProgress();
            var summary = progress.Run("training", () => TrainingRun.Execute(options, backend, progress, resume, interrupt.Token));
            Console.WriteLine($"Trained {summary.Steps} steps in {summary.Elapsed:hh\\:mm\\:ss}; last loss {summary.LastLoss:F4}" +
                (summary.LastValidationLoss is double v ? $", validation loss {v:F4}" : "") + ".");
            Console.WriteLine($"Run folder: {Path.GetFullPath(options.OutputDirectory)} (metrics.jsonl, checkpoints)");
            if (summary.LastCheckpoint is not null) Console.WriteLine($"Latest checkpoint: {Path.GetFullPath(summary.LastCheckpoint)}");
            return summary;
        }
        catch (TrainingStoppedException e)
        {
            Console.Error.WriteLine(e.Message);
            return null;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}

/// <summary>Default run folder names.</summary>
internal static class RunFolders
{
    public static string NewRun() => Path.Combine("runs", DateTime.Now.ToString("yyyyMMdd-HHmmss"));
}
