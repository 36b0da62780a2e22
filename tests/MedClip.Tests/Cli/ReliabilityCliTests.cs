using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using MedClip.Backends.Cpu;
using MedClip.IO;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using MedClip.Tests.Distributed;
using MedClip.Training;

namespace MedClip.Tests.Cli;

/// <summary>A fact that needs root (mounting a tmpfs); CI runs as root.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (Environment.UserName != "root") Skip = "needs root to mount a small tmpfs (CI runs as root).";
    }
}

/// <summary>
/// The built medclip-train under faults: signals, a second process on the same folder, a full disk, bad option values,
/// a resumed run with other options, and an evaluation of a checkpoint whose scores are NaN. Each run is the tiny
/// preset on the fixture's 60 generated studies for a handful of steps.
/// </summary>
public sealed partial class ReliabilityCliTests(MpirunTraining fixture) : IClassFixture<MpirunTraining>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    [LibraryImport("libc", EntryPoint = "kill")]
    private static partial int Kill(int pid, int signal);

    private const int Sigint = 2, Sigterm = 15;

    private string Folder(string name) => Path.Combine(fixture.Directory, name);

    private static (int ExitCode, string Output) Run(params string[] arguments)
    {
        var (code, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet, [MpirunTraining.Cli, .. arguments], Limit);
        Assert.DoesNotContain("   at ", output); // never a stack trace
        return (code, output);
    }

    /// <summary>
    /// A training run in the background whose stdout and stderr are read as they come, so a test can wait for a message.
    /// Both are drained from the start: a child blocked on a full stdout pipe holds the console's lock, and its signal
    /// handler's stderr line would then never come.
    /// </summary>
    private sealed class LongRun(Process process) : IDisposable
    {
        private readonly StringBuilder _errors = new();
        private readonly StringBuilder _output = new();

        public int Id => process.Id;

        public void StartReading()
        {
            process.ErrorDataReceived += (_, line) =>
            {
                if (line.Data is not null) lock (_errors) _errors.AppendLine(line.Data);
            };
            process.OutputDataReceived += (_, line) =>
            {
                if (line.Data is not null) lock (_output) _output.AppendLine(line.Data);
            };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
        }

        public bool WaitForError(string text) =>
            SpinWait.SpinUntil(() => { lock (_errors) return _errors.ToString().Contains(text, StringComparison.Ordinal); }, Limit);

        public (int ExitCode, string Output) Finish()
        {
            Assert.True(process.WaitForExit(Limit), "the run did not end");
            process.WaitForExit(); // drains the output and error events
            string all;
            lock (_output) lock (_errors) all = _output.ToString() + _errors;
            Assert.DoesNotContain("   at ", all);
            return (process.ExitCode, all);
        }

        public void Dispose() => process.Dispose();
    }

    /// <summary>A long training run in the background, returned once it has logged a step.</summary>
    private LongRun StartLongRun(string run)
    {
        // Through `env --default-signal=INT` (exec, same pid): a test run started as a background job inherits SIGINT
        // ignored, as every job does, and .NET then keeps it ignored, so the SIGINT tests would wait in vain.
        var start = new ProcessStartInfo("env", ["--default-signal=INT", MpirunTraining.Dotnet, .. fixture.TrainArguments(run, steps: 2000)[1..]])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        var process = Process.Start(start)!;
        var longRun = new LongRun(process);
        longRun.StartReading();
        string metrics = Path.Combine(Folder(run), RunFolder.MetricsFile);
        bool started = SpinWait.SpinUntil(() => process.HasExited || (File.Exists(metrics) && File.ReadAllLines(metrics).Length >= 1), Limit);
        Assert.True(started && !process.HasExited, "the training run did not start");
        return longRun;
    }

    private static int[] LoggedSteps(string run) =>
        MetricsLog.Read(Path.Combine(run, RunFolder.MetricsFile)).Where(l => l.ContainsKey("loss")).Select(l => (int)l["step"]!).ToArray();

    [Fact]
    public void Sigterm_WritesACheckpointAndExits143_ASecondRunOnTheFolderIsRefused_ResumeContinuesWithoutDuplicates()
    {
        using var first = StartLongRun("sigterm");
        var (refused, message) = Run(fixture.TrainArguments("sigterm", steps: 2)[2..]);
        Assert.Equal(2, refused);
        Assert.Contains($"is in use by process {first.Id}", message);

        Assert.Equal(0, Kill(first.Id, Sigterm));
        var (code, output) = first.Finish();
        Assert.Equal(143, code);
        Assert.Contains("SIGTERM: finishing this step and writing a resumable checkpoint", output);
        string checkpoint = CheckpointStore.Latest(Folder("sigterm"))!;
        int step = TrainerState.Read(Path.Combine(checkpoint, CheckpointStore.StateFile)).GlobalStep;
        Assert.True(step >= 1);
        Assert.False(File.Exists(Path.Combine(Folder("sigterm"), RunFolderLock.FileName)));

        // --data, --model, --batch-size and the rest come from train_options.json.
        var (resumed, _) = Run("train", "--device", "cpu", "--steps", $"{step + 2}", "--resume", Folder("sigterm"));
        Assert.Equal(0, resumed);
        Assert.Equal(Enumerable.Range(1, step + 2), LoggedSteps(Folder("sigterm")));
    }

    [Fact]
    public void OneKillDeliveredTwice_StillWritesTheCheckpoint()
    {
        // As under `dotnet run`, which forwards the signal while the process group receives it too.
        using var run = StartLongRun("sigterm-twice");
        Assert.Equal(0, Kill(run.Id, Sigterm));
        Thread.Sleep(5);
        Assert.Equal(0, Kill(run.Id, Sigterm));
        var (code, output) = run.Finish();
        Assert.Equal(143, code);
        Assert.DoesNotContain("SIGTERM again:", output);
        Assert.NotNull(CheckpointStore.Latest(Folder("sigterm-twice")));
    }

    [Fact]
    public void SigintTwice_AbortsAtOnceWith130()
    {
        using var run = StartLongRun("sigint");
        Assert.Equal(0, Kill(run.Id, Sigint));
        // Sent longer after the first was handled than the 20 ms within which it would count as the same delivery.
        Assert.True(run.WaitForError("SIGINT: finishing this step"), "the first SIGINT was not handled");
        Thread.Sleep(30);
        Assert.Equal(0, Kill(run.Id, Sigint));
        var (code, output) = run.Finish();
        Assert.Equal(130, code);
        Assert.Contains("SIGINT again: stopping now without a checkpoint.", output);
    }

    [Fact]
    public void OutHoldingARun_IsRefusedUnlessOverwrite_ThenReplacedCleanly()
    {
        Assert.Equal(0, Run([.. fixture.TrainArguments("taken", steps: 3)[2..], "--save-every", "1", "--keep-checkpoints", "2"]).ExitCode);
        Assert.Equal(["checkpoint-0000002", "checkpoint-0000003"], CheckpointStore.List(Folder("taken")).Select(Path.GetFileName));
        var (refused, message) = Run(fixture.TrainArguments("taken", steps: 2)[2..]);
        Assert.Equal(2, refused);
        Assert.Contains("holds another run", message);
        Assert.Equal([1, 2, 3], LoggedSteps(Folder("taken")));

        Assert.Equal(0, Run([.. fixture.TrainArguments("taken", steps: 2)[2..], "--overwrite"]).ExitCode);
        Assert.Equal([1, 2], LoggedSteps(Folder("taken")));
        Assert.Equal(["checkpoint-0000002"], CheckpointStore.List(Folder("taken")).Select(Path.GetFileName));
    }

    [Fact]
    public void ResumeRefusals_AreOneSentence_AndWriteNothing()
    {
        Assert.Equal(0, Run(fixture.TrainArguments("kept", steps: 2)[2..]).ExitCode);
        string run = Folder("kept");
        var before = Directory.GetFileSystemEntries(run, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);

        var (code, output) = Run("train", "--device", "cpu", "--batch-size", "4", "--steps", "4", "--resume", run);
        Assert.Equal(2, code);
        Assert.Contains("--batch-size 4 differs from the run's 6", output);
        (code, output) = Run("train", "--device", "cpu", "--steps", "4", "--resume", run, "--out", Folder("elsewhere"));
        Assert.Equal(2, code);
        Assert.Contains("leave out --out", output);
        (code, output) = Run("train", "--device", "cpu", "--resume", Folder("missing"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", output);
        Assert.False(Directory.Exists(Folder("missing")));

        var after = Directory.GetFileSystemEntries(run, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.GetLastWriteTimeUtc);
        Assert.Equal(before, after);
    }

    [Theory]
    [InlineData("--lr must be a number, not 'abc'.", "train", "--lr", "abc")]
    [InlineData("--out must not be empty.", "train", "--out", "")]
    [InlineData("--steps must be a positive whole number, not '-3'.", "train", "--steps", "-3")]
    public void BadOptionValues_NameTheOption(string expected, params string[] arguments)
    {
        var (code, output) = Run(arguments);
        Assert.Equal(2, code);
        Assert.Equal(expected, output.Trim());
    }

    [Fact]
    public void AWrongOptionValue_IsOneSentence_BeforeTheRunFolderIsMade()
    {
        var (code, output) = Run("train", "--device", "cpu", "--batch-size", "1", "--steps", "1", "--out", Folder("refused"));
        Assert.Equal(2, code);
        Assert.Equal("--batch-size 1: the contrastive loss needs at least 2 pairs per batch.", output.Trim());
        Assert.False(Directory.Exists(Folder("refused")));
    }

    [Theory]
    [InlineData("eval", "--checkpoint", "{dir}", "--data", "mimic:{data}", "--device", "cpu", "--out", "{file}/eval")]
    [InlineData("embed", "--checkpoint", "{dir}", "--texts", "{file}", "--device", "cpu", "--out", "{file}/embeds.safetensors")]
    [InlineData("prep", "--data", "mimic:{data}", "--out", "{file}/shards")]
    public void OutputIntoAnUnwritableFolder_FailsBeforeAnyWork(params string[] arguments)
    {
        string file = Path.Combine(fixture.Directory, "a-file");
        File.WriteAllText(file, "");
        string[] filled = [.. arguments.Select(a => a.Replace("{dir}", fixture.Directory).Replace("{data}", fixture.Data).Replace("{file}", file))];
        var (code, output) = Run(filled);
        Assert.Equal(2, code);
        Assert.StartsWith($"--out '{file}", output.Trim()); // embed names the folder of its output file
        Assert.Contains("cannot be written", output);
    }

    [Fact]
    public void EvalOfACheckpointWithNaNScores_EndsWithUndefinedMetrics()
    {
        Assert.Equal(0, Run(fixture.TrainArguments("nan", steps: 1)[2..]).ExitCode);
        string checkpoint = CheckpointStore.Latest(Folder("nan"))!;
        var (config, _) = DualEncoderConfigJson.Read(Path.Combine(checkpoint, CheckpointStore.ConfigFile));
        var model = new DualEncoder(new Init(CpuBackend.Instance, DType.F32, 0), config);
        string weights = Path.Combine(checkpoint, CheckpointStore.WeightsFile);
        ModuleWeights.Load(model, weights);
        CpuBackend.Instance.Fill(model.LogitScale, double.NaN);
        ModuleWeights.Save(model, weights);

        string output = Folder("nan-eval");
        var (code, _) = Run("eval", "--checkpoint", checkpoint, "--data", $"mimic:{fixture.Data}", "--split", "train", "--device", "cpu", "--out", output);
        Assert.Equal(0, code);
        var metrics = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")))!;
        var edema = metrics["zero_shot"]!["labels"]!["Edema"]!;
        Assert.Null(edema["auroc"]);
        Assert.Contains("NaN", (string?)edema["auroc_undefined_reason"]);
        Assert.Equal("not a finite number (NaN)", (string?)metrics["zero_shot"]!["logit_scale_undefined_reason"]);
    }

    [RootFact]
    public void DiskFull_StopsWithOneSentence_Exit1()
    {
        string small = Folder("tmpfs");
        Directory.CreateDirectory(small);
        var (mounted, output, _) = MpirunTraining.Run("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", small], Limit);
        Assert.True(mounted == 0, output);
        try
        {
            var (code, message) = Run(fixture.TrainArguments(Path.Combine("tmpfs", "run"), steps: 2)[2..]);
            Assert.Equal(1, code);
            Assert.Contains("Training stopped: the disk is full (No space left on device", message);
            Assert.Contains("no checkpoint was written", message);
            Assert.Empty(Directory.GetDirectories(Path.Combine(small, "run"), ".checkpoint-*"));
        }
        finally
        {
            MpirunTraining.Run("umount", [small], Limit);
        }
    }
}
