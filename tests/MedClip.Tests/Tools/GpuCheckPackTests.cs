using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text.Json;
using System.Text.RegularExpressions;
using MedClip.Tests.Backends.Cuda;
using Xunit.Abstractions;

namespace MedClip.Tests.Tools;

/// <summary>
/// The one-call GPU check cannot rot: tools/gpu/pack.sh builds its archive here, the packed console trains, embeds and
/// evaluates under the CUDA emulator from the archive alone, and tools/gpu/check.sh runs end to end against the
/// emulator (PyTorch steps skipped) and leaves in $OUT only what the device machine returns: at most 8 files, each
/// under 16 MiB, at most 2 folders deep, named in letters, digits, '.', '_' and '-'.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class GpuCheckPackTests(ITestOutputHelper output) : IDisposable
{
    private const long MaxArchiveBytes = 40L << 20;
    private const long MaxReturnedFileBytes = 16L << 20;
    private readonly string _work = Directory.CreateTempSubdirectory("medclip-gpu-pack-").FullName;

    public void Dispose() => Directory.Delete(_work, recursive: true);

    [EmulatorFact]
    public void PackedArchive_RunsEveryCommandAndTheCheckUnderTheEmulator_WithinTheDeviceLimits()
    {
        string root = RepositoryRoot();
        string archive = Path.Combine(_work, "gpu-check.tgz");
        var pack = Run(Path.Combine(root, "tools/gpu/pack.sh"), [], root, TimeSpan.FromMinutes(15), ("PACK_ARCHIVE", archive));
        Assert.True(pack.ExitCode == 0, pack.Output);
        long bytes = new FileInfo(archive).Length;
        Assert.InRange(bytes, 1L << 20, MaxArchiveBytes);
        Assert.Contains("command:", pack.Output);
        Assert.Contains("carry:", pack.Output);
        Assert.Matches(@"timeout_s: \d+", pack.Output);

        // The packed console alone: the emulator it carries, no MEDCLIP_CUDA_EMULATOR and no repository around it.
        string unpacked = Path.Combine(_work, "unpacked");
        Directory.CreateDirectory(unpacked);
        Assert.Equal(0, Run("tar", ["-xzf", archive, "-C", unpacked], _work, TimeSpan.FromMinutes(2)).ExitCode);
        string cli = Path.Combine(unpacked, "gpu-check/cli/medclip-train");
        Assert.True(File.GetUnixFileMode(cli).HasFlag(UnixFileMode.UserExecute), "the packed console lost its executable bit");
        Assert.True(File.GetUnixFileMode(Path.Combine(unpacked, "gpu-check/bench/MedClip.Benchmarks")).HasFlag(UnixFileMode.UserExecute));
        string data = Path.Combine(_work, "data"), run = Path.Combine(_work, "run");
        File.WriteAllText(Path.Combine(_work, "texts.txt"), "no effusion\nmild cardiomegaly\n");
        foreach (string[] command in new[]
        {
            new[] { "synth", "--out", data, "--studies", "120" },
            ["train", "--data", $"mimic:{data}", "--model", Path.Combine(root, "tools/gpu/emulator-model.json"), "--device", "cuda", "--batch-size", "4",
                "--steps", "2", "--out", run],
            ["embed", "--checkpoint", Path.Combine(run, "checkpoint-0000002"), "--texts", Path.Combine(_work, "texts.txt"), "--device", "cuda",
                "--out", Path.Combine(_work, "embeds.safetensors")],
            ["eval", "--checkpoint", Path.Combine(run, "checkpoint-0000002"), "--data", $"mimic:{data}", "--device", "cuda", "--out", Path.Combine(_work, "eval")],
        })
        {
            var result = Run(cli, command, _work, TimeSpan.FromMinutes(5), ("MEDCLIP_CUDA", "emulator"), ("MEDCLIP_CUDA_EMULATOR", null));
            Assert.True(result.ExitCode == 0, $"medclip-train {string.Join(' ', command)}:\n{result.Output}");
        }
        Assert.True(File.Exists(Path.Combine(_work, "eval/metrics.json")));

        string @out = Path.Combine(_work, "out");
        var check = Run(Path.Combine(root, "tools/gpu/check.sh"), [], root, TimeSpan.FromMinutes(15), ("CHECK_ARCHIVE", archive), ("OUT", @out),
            ("MEDCLIP_CUDA", "emulator"), ("MEDCLIP_CUDA_EMULATOR", null), ("CHECK_SKIP_TORCH", "1"));
        Assert.True(check.ExitCode == 0, check.Output);
        var returned = Directory.EnumerateFileSystemEntries(@out, "*", SearchOption.AllDirectories).ToList();
        output.WriteLine(string.Join('\n', returned.Select(path => $"{Path.GetRelativePath(@out, path)} {(File.Exists(path) ? new FileInfo(path).Length : 0)}")));
        var files = returned.Where(File.Exists).ToList();
        Assert.InRange(files.Count, 3, 8);
        foreach (string path in returned)
        {
            string relative = Path.GetRelativePath(@out, path);
            Assert.True(relative.Split('/').Length <= 3, $"{relative} is more than 2 folders down");
            Assert.True(relative.Split('/').All(part => ReturnableName().IsMatch(part)), $"{relative} has a name the device machine does not return");
        }
        Assert.All(files, path => Assert.InRange(new FileInfo(path).Length, 1, MaxReturnedFileBytes));
        Assert.Equal(["logs.tgz", "report.json", "summary.txt"], files.Select(path => Path.GetFileName(path)).Order(StringComparer.Ordinal).ToArray());

        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(@out, "report.json")));
        var steps = report.RootElement.GetProperty("steps").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!);
        foreach (string name in new[] { "probe", "selftest-fp32", "selftest-bf16", "bench-bf16", "bench-bf16-fused", "bench-fp32", "kernel-bench",
            "pretrained-train", "pretrained-embed" })
        {
            Assert.Equal("ran", steps[name].GetProperty("status").GetString());
            Assert.Equal(0, steps[name].GetProperty("rc").GetInt32());
        }
        Assert.True(steps["probe"].GetProperty("symbols").GetProperty("resolved").GetInt32() > 40);
        Assert.Empty(steps["probe"].GetProperty("symbols").GetProperty("missing").EnumerateArray());
        Assert.True(steps["selftest-fp32"].GetProperty("passed").GetInt32() > 50);
        Assert.Equal("emulator-model.json", steps["bench-fp32"].GetProperty("result").GetProperty("model").GetString());
        Assert.Equal("not run", steps["pretrained-parity"].GetProperty("status").GetString());
        Assert.Equal("not run", steps["torch-bf16-eager"].GetProperty("status").GetString());
        Assert.Equal("not run", steps["torch-bf16-compiled"].GetProperty("status").GetString());
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+$")]
    private static partial Regex ReturnableName();

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MedClip.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("no MedClip.sln above the test assembly");
    }

    // Runs a program with the given variables set (null removes one); its exit code and everything it printed.
    private (int ExitCode, string Output) Run(string file, IEnumerable<string> arguments, string directory, TimeSpan limit,
        params (string Name, string? Value)[] environment)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
        foreach (var (name, value) in environment)
        {
            if (value is null) start.Environment.Remove(name);
            else start.Environment[name] = value;
        }
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{file} {string.Join(' ', arguments)}` ran past {limit.TotalMinutes} minutes.");
        }
        process.WaitForExit();
        string text = stdout.Result + stderr.Result;
        output.WriteLine($"$ {Path.GetFileName(file)} {string.Join(' ', arguments)} ({clock.Elapsed.TotalSeconds:F0} s, exit {process.ExitCode})");
        return (process.ExitCode, text);
    }
}
