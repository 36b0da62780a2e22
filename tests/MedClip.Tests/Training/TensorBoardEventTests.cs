using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using MedClip.Training;

namespace MedClip.Tests.Training;

/// <summary>
/// TensorBoard event files: the CRC against its published check value, and a short training run's files decoded by
/// tools/tensorboard/read_events.py (Google's protobuf library on definitions compiled by protoc, its own CRC-32C),
/// whose tags, steps and values must match metrics.jsonl. .ci/run installs python3-protobuf and protobuf-compiler.
/// </summary>
public sealed class TensorBoardEventTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-tensorboard-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Crc32C_MatchesTheCastagnoliCheckValue()
    {
        Assert.Equal(0xE3069283u, TensorBoardEventWriter.Crc32C(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, TensorBoardEventWriter.Crc32C([]));
    }

    [Fact]
    public void EventFiles_DecodedByAnIndependentReader_HoldTheLoggedScalars()
    {
        var options = new TrainingOptions
        {
            Steps = 5, BatchSize = TrainerTests.BatchSize, LearningRate = 1e-3, WarmupSteps = 2, LogEvery = 2, ValidateEvery = 3,
            CheckpointEvery = 1000, ReportTo = [MetricsReport.Jsonl, MetricsReport.TensorBoard], OutputDirectory = Path.Combine(_dir, "run"),
        };
        new Trainer(options, TrainerTests.Model(), TrainerTests.Context, []).Run(new TrainerTests.RandomBatches(3), new TrainerTests.RandomBatches(1), null, CancellationToken.None);

        var decoded = ReadEvents(Path.Combine(options.OutputDirectory, MetricsReport.TensorBoardFolder), out int exitCode, out string error);
        Assert.True(exitCode == 0, error);
        Assert.Equal("brain.Event:2", (string)decoded!["file_version"]!);
        var scalars = decoded["scalars"]!.AsArray().Select(s => (Tag: (string)s!["tag"]!, Step: (long)s["step"]!, Value: (double)s["value"]!)).ToList();

        var expected = new List<(string Tag, long Step, double Value)>();
        foreach (var line in MetricsLog.Read(Path.Combine(options.OutputDirectory, MetricsReport.MetricsFile)))
        {
            foreach (var (key, tag) in TensorBoardEventWriter.Tags)
            {
                if (line[key] is JsonValue v) expected.Add((tag, (long)line["step"]!, (double)v));
            }
        }
        // Logged at steps 2, 4 and 5 (the last); validated at 3 and 5 (the last).
        Assert.Equal([2L, 4, 5], scalars.Where(s => s.Tag == "train/loss").Select(s => s.Step));
        Assert.Equal([3L, 5], scalars.Where(s => s.Tag == "val/loss").Select(s => s.Step));
        Assert.Equal(expected.Select(e => (e.Tag, e.Step)), scalars.Select(s => (s.Tag, s.Step)));
        Assert.Equal(6 * 3 + 2, scalars.Count); // six training tags at each logged step, the validation loss twice
        foreach (var (e, s) in expected.Zip(scalars))
            Assert.Equal((float)e.Value, (float)s.Value); // stored as float32 simple_value
    }

    [Fact]
    public void Reader_RejectsAFlippedByte()
    {
        using (var writer = TensorBoardEventWriter.Create(_dir))
            writer.Write(new JsonObject { ["step"] = 1, ["loss"] = 2.5 });
        string file = Directory.GetFiles(_dir, "events.out.tfevents.*").Single();
        Assert.Equal(0, RunReader(_dir, out _, out _));
        byte[] bytes = File.ReadAllBytes(file);
        bytes[^6] ^= 0x01; // inside the last record's payload
        File.WriteAllBytes(file, bytes);
        Assert.Equal(1, RunReader(_dir, out _, out string error));
        Assert.Contains("CRC", error);
    }

    private static JsonObject? ReadEvents(string folder, out int exitCode, out string error)
    {
        exitCode = RunReader(folder, out string output, out error);
        return exitCode == 0 ? JsonNode.Parse(output)!.AsObject() : null;
    }

    private static int RunReader(string folder, out string output, out string error)
    {
        string script = Path.Combine(RepositoryPaths.Root, "tools", "tensorboard", "read_events.py");
        // Debian's interpreter, which python3-protobuf installs into, rather than whichever python3 is first on the PATH.
        string python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        var start = new ProcessStartInfo(python, [script, folder]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start; .ci/run installs python3-protobuf and protobuf-compiler.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        error = process.StandardError.ReadToEnd();
        output = stdout.Result;
        process.WaitForExit();
        return process.ExitCode;
    }
}
