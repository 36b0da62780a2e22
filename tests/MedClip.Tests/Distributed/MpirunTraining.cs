using System.Diagnostics;
using MedClip.Data.Synthetic;

namespace MedClip.Tests.Distributed;

/// <summary>A fact that runs only where mpirun is installed (CI installs Open MPI, so there it always runs).</summary>
public sealed class MpirunFactAttribute : FactAttribute
{
    public MpirunFactAttribute()
    {
        if (MpirunTraining.Mpirun is null)
            Skip = "mpirun is not on PATH: install Open MPI (apt-get install openmpi-bin libopenmpi-dev), as .ci/run does.";
    }
}

/// <summary>
/// Launches the built medclip-train, alone or under mpirun, on a small generated dataset shared by the tests of a
/// class. Running as root needs Open MPI's two confirmation variables; more ranks than cores need --oversubscribe.
/// </summary>
public sealed class MpirunTraining : IDisposable
{
    public static readonly string? Mpirun = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(folder => Path.Combine(folder, "mpirun")).FirstOrDefault(File.Exists);

    public MpirunTraining()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("medclip-mpi-").FullName;
        Data = Path.Combine(Directory, "data");
        SyntheticChestXrayGenerator.Generate(Data, studies: 60, imageSize: 64, seed: 0);
    }

    public string Directory { get; }
    public string Data { get; }

    /// <summary>The CLI built beside this test assembly's configuration (the test project references it).</summary>
    public static string Cli
    {
        get
        {
            var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
            string framework = testBin.Name, configuration = testBin.Parent!.Name;
            var root = testBin;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "MedClip.sln"))) root = root.Parent;
            string cli = Path.Combine(root!.FullName, "src", "MedClip.Cli", "bin", configuration, framework, "medclip-train.dll");
            return File.Exists(cli) ? cli : throw new FileNotFoundException($"{cli} is missing: build src/MedClip.Cli first.");
        }
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    /// <summary>Train arguments for the tiny preset on the generated data: global batch 6, a few steps, a line per step.</summary>
    public string[] TrainArguments(string run, int steps = 4, int seed = 0, params string[] extra) =>
    [
        Dotnet, Cli, "train", "--data", $"mimic:{Data}", "--model", "tiny", "--device", "cpu", "--batch-size", "6", "--steps", $"{steps}", "--warmup", "1",
        "--log-every", "1", "--seed", $"{seed}", "--out", Path.Combine(Directory, run), .. extra,
    ];

    /// <summary>
    /// Runs a command line; returns its exit code, everything it printed, and how long it took. Variables named in
    /// <paramref name="unset"/> are removed from the child's environment (this process sets MEDCLIP_CUDA=emulator for its
    /// emulator tests).
    /// </summary>
    public static (int ExitCode, string Output, TimeSpan Elapsed) Run(string file, IEnumerable<string> arguments, TimeSpan limit,
        params string[] unset)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        start.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        foreach (var name in unset) start.Environment.Remove(name);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{file} {string.Join(' ', arguments)}` ran past {limit.TotalSeconds} s.");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result, clock.Elapsed);
    }

    /// <summary>A command line under mpirun with <paramref name="ranks"/> processes.</summary>
    public static (int ExitCode, string Output, TimeSpan Elapsed) Mpi(int ranks, IEnumerable<string> command, TimeSpan limit) =>
        Run(Mpirun!, ["--oversubscribe", "-np", $"{ranks}", .. command], limit);

    /// <summary>The dotnet host running the tests, else the one on PATH.</summary>
    public static string Dotnet => Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";
}
