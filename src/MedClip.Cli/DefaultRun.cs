using MedClip.Training;

namespace MedClip.Cli;

/// <summary>
/// medclip-train with no arguments: generate the synthetic chest X-ray set under a new run folder, train the tiny preset
/// on the best device, evaluate zero-shot on the held-out test split, and say where everything went.
/// </summary>
internal static class DefaultRun
{
    /// <summary>Optimizer steps of the default run: 10 epochs of the 2,000-study synthetic set at batch 32, about 6 minutes on 2 cores.</summary>
    public const int Steps = 500;

    public static int Execute(CancellationToken cancel)
    {
        var options = new TrainingOptions
        {
            Data = "synthetic",
            Model = "tiny",
            Steps = Steps,
            WarmupSteps = 25,
            OutputDirectory = RunFolders.NewRun(),
        };
        Console.WriteLine($"medclip-train: training the tiny dual encoder on synthetic chest X-rays in {Path.GetFullPath(options.OutputDirectory)}");
        var summary = RunTraining.Train(options, resume: false, collectiveTimeoutSeconds: null, cancel);
        if (summary is null || summary.Interrupted || summary.LastCheckpoint is null) return 1;
        if (Distributed.DistributedLaunch.FromEnvironment().Rank != 0) return 0; // rank 0 evaluates
        string output = Path.Combine(options.OutputDirectory, "eval");
        string commandLine = $"medclip-train eval --checkpoint {summary.LastCheckpoint} --data synthetic --split test --device {options.Device} --out {output}" +
            "   (the evaluation step of `medclip-train` without arguments)";
        var report = Commands.EvalCommand.Run(summary.LastCheckpoint, "synthetic", "test", options.Device, output, commandLine);
        return report is null ? 1 : 0;
    }
}
