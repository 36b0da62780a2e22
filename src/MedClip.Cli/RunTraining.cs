using MedClip.Distributed;
using MedClip.Training;

namespace MedClip.Cli;

/// <summary>How a training command ended: the summary (null when it stopped with a reason already printed) and the process exit code.</summary>
internal sealed record TrainingOutcome(TrainingSummary? Summary, int ExitCode);

/// <summary>
/// Runs training with a progress display. The run folder is owned for the whole run (<see cref="RunFolderLock"/>):
/// checked writable, refused when it holds another run (unless overwriting), cleaned of a killed save's leftovers.
/// SIGINT and SIGTERM ask the trainer to checkpoint and stop (<see cref="InterruptSignals"/>). Launched by mpirun or
/// with torchrun-style variables, each process becomes one rank of a data-parallel job: it opens the GPU of its local
/// rank, joins the communicator, and only rank 0 owns the folder and shows progress. An error on one rank that the
/// others cannot see (bad data, a bug) aborts the whole job at once instead of leaving them waiting for the collective timeout.
/// </summary>
internal static class RunTraining
{
    public static TrainingOutcome Train(TrainingOptions options, bool resume, double? collectiveTimeoutSeconds, bool overwrite = false)
    {
        var launch = Distributed(() => DistributedLaunch.FromEnvironment());
        var timeout = CollectiveTimeout.Resolve(collectiveTimeoutSeconds);
        var backend = DeviceSelection.Resolve(options.Device, launch.LocalRank);
        using var communicator = Distributed(() => Communicators.Open(launch, backend, timeout));
        using var signals = new InterruptSignals();
        try
        {
            if (communicator.Rank != 0)
                return Outcome(TrainingRun.Execute(options, backend, null, resume, signals.Token, communicator), signals);
            options.Validate(communicator.WorldSize); // before the folder is owned: a wrong value leaves nothing behind
            using var owner = Own(options.OutputDirectory, resume, overwrite);
            if (communicator.WorldSize > 1)
                Console.WriteLine($"Data parallel over {communicator.WorldSize} ranks ({communicator.Name}): global batch {options.BatchSize}, {options.BatchSize / Math.Max(1, communicator.WorldSize)} per rank.");
            var progress = new ConsoleProgress();
            var summary = progress.Run(() => TrainingRun.Execute(options, backend, progress, resume, signals.Token, communicator));
            Console.WriteLine($"Trained {summary.Steps} steps in {summary.Elapsed:hh\\:mm\\:ss}; last loss {summary.LastLoss:F4}" +
                (summary.LastValidationLoss is double v ? $", validation loss {v:F4}" : "") + ".");
            Console.WriteLine($"Run folder: {Path.GetFullPath(options.OutputDirectory)} (metrics.jsonl, checkpoints)");
            if (summary.LastCheckpoint is not null) Console.WriteLine($"Latest checkpoint: {Path.GetFullPath(summary.LastCheckpoint)}");
            if (summary.Interrupted) Console.WriteLine($"Interrupted; continue with --resume {options.OutputDirectory}.");
            return Outcome(summary, signals);
        }
        catch (TrainingStoppedException e)
        {
            Console.Error.WriteLine(e.Message);
            return new TrainingOutcome(null, ExitCodes.Failed);
        }
        catch (Exception e) when (communicator.WorldSize > 1 && e is not (DistributedSetupException or ArgumentException))
        {
            // Start-up checks fail alike on every rank and end normally; anything else may be this rank's alone.
            int code = ExitCodes.For(e);
            Console.Error.WriteLine($"Rank {communicator.Rank} of {communicator.WorldSize}: {ExitCodes.Describe(e)} The job is aborted.");
            communicator.Abort(code);
            return new TrainingOutcome(null, code); // not reached: Abort ends the process
        }
    }

    private static TrainingOutcome Outcome(TrainingSummary summary, InterruptSignals signals) =>
        new(summary, summary.Interrupted ? signals.ExitCode ?? InterruptSignals.InterruptedBySigint : ExitCodes.Done);

    /// <summary>
    /// Takes the run folder: it must be writable, and a new run's must hold no other run (its checkpoints and metrics are
    /// removed first with <paramref name="overwrite"/>). Then it is locked and a killed save's leftovers are cleaned.
    /// </summary>
    private static RunFolderLock Own(string folder, bool resume, bool overwrite)
    {
        OutputFolders.RequireWritable(folder, resume ? "--resume" : "--out");
        var owner = RunFolderLock.Acquire(folder);
        try
        {
            if (owner.StalePid is int pid) Console.WriteLine($"Took over {owner.Path}, left by process {pid}, which has ended.");
            if (!resume && RunFolder.HoldsRun(folder))
            {
                if (!overwrite)
                    throw new UsageException($"--out '{folder}' holds another run (metrics.jsonl or checkpoints); continue it with --resume, " +
                        "choose another --out, or add --overwrite to replace it.");
                RunFolder.RemoveRun(folder);
                Console.WriteLine($"--overwrite: removed the previous run's checkpoints and metrics from {folder}.");
            }
            foreach (string stale in CheckpointStore.RemoveStale(folder)) Console.WriteLine($"Removed an unfinished checkpoint: {stale}");
            return owner;
        }
        catch
        {
            owner.Dispose();
            throw;
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
