using MedClip.Distributed;
using MedClip.Training;

namespace MedClip.Cli;

/// <summary>
/// Runs training with a progress display; Ctrl-C asks the trainer to checkpoint and stop. Launched by mpirun or with
/// torchrun-style variables, each process becomes one rank of a data-parallel job: it opens the GPU of its local rank,
/// joins the communicator, and only rank 0 shows progress. An error on one rank that the others cannot see (bad data,
/// a bug) aborts the whole job at once instead of leaving them waiting for the collective timeout.
/// </summary>
internal static class RunTraining
{
    /// <summary>Returns the summary, or null when training stopped with a reason already printed.</summary>
    public static TrainingSummary? Train(TrainingOptions options, bool resume, double? collectiveTimeoutSeconds, CancellationToken cancel)
    {
        var launch = Distributed(() => DistributedLaunch.FromEnvironment());
        var timeout = CollectiveTimeout.Resolve(collectiveTimeoutSeconds);
        var backend = DeviceSelection.Resolve(options.Device, launch.LocalRank);
        using var communicator = Distributed(() => Communicators.Open(launch, backend, timeout));
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // finish the step, write a checkpoint, then exit
            interrupt.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            if (communicator.Rank != 0)
                return TrainingRun.Execute(options, backend, null, resume, interrupt.Token, communicator);
            options.ValidateFor(communicator.WorldSize);
            if (communicator.WorldSize > 1)
                Console.WriteLine($"Data parallel over {communicator.WorldSize} ranks ({communicator.Name}): global batch {options.BatchSize}, {options.BatchSize / Math.Max(1, communicator.WorldSize)} per rank.");
            var progress = new ConsoleProgress();
            var summary = progress.Run(() => TrainingRun.Execute(options, backend, progress, resume, interrupt.Token, communicator));
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
        catch (Exception e) when (communicator.WorldSize > 1 && e is not (DistributedSetupException or ArgumentException))
        {
            // Start-up checks fail alike on every rank and end normally; anything else may be this rank's alone.
            bool user = e is InvalidDataException or FileNotFoundException or DirectoryNotFoundException or UsageException;
            Console.Error.WriteLine($"Rank {communicator.Rank} of {communicator.WorldSize}: {(user ? e.Message : e.ToString())} The job is aborted.");
            communicator.Abort(user ? 2 : 1);
            return null; // not reached: Abort ends the process
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    // Launch and communicator errors (a missing libmpi or libnccl, a bad variable) are one sentence for the user.
    private static T Distributed<T>(Func<T> open)
    {
        try
        {
            return open();
        }
        catch (DistributedSetupException e)
        {
            throw new UsageException(e.Message);
        }
    }
}

/// <summary>Default run folder names.</summary>
internal static class RunFolders
{
    public static string NewRun() => Path.Combine("runs", DateTime.Now.ToString("yyyyMMdd-HHmmss"));
}
