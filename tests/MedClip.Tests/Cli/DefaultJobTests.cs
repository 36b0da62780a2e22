using System.Diagnostics;
using System.Text.Json.Nodes;
using MedClip.Tests.Distributed;
using MedClip.Training;

namespace MedClip.Tests.Cli;

/// <summary>
/// medclip-train without a command: <c>--seed S</c> reaches the generated data and the training options, and the
/// options are the recipe docs/results.md reports. The run is stopped once its run folder holds train_options.json.
/// </summary>
public sealed class DefaultJobTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private readonly string _directory = Directory.CreateTempSubdirectory("medclip-default-job-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Seed_ReachesTheTrainingOptions_WhichHoldTheDocumentedRecipe()
    {
        var start = new ProcessStartInfo(MpirunTraining.Dotnet, [MpirunTraining.Cli, "--seed", "3"])
        {
            WorkingDirectory = _directory, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        JsonNode? json = null;
        bool written = SpinWait.SpinUntil(() => (json = WrittenOptions()) is not null || process.HasExited, Limit);
        bool exited = process.HasExited;
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        string printed = await output + await errors;
        Assert.True(written && !exited, $"no {TrainingRun.OptionsFile} while the run lasted: {printed}");
        Assert.Contains("(seed 3)", printed);

        Assert.Equal(3, (int)json!["Seed"]!);
        Assert.Equal("synthetic", (string)json["Data"]!);
        Assert.Equal("tiny", (string)json["Model"]!);
        Assert.Equal(1000, (int)json["Steps"]!);
        Assert.Equal(40, (int)json["WarmupSteps"]!);
        Assert.Equal(8000, (int)json["SyntheticStudies"]!);
        Assert.Equal(32, (int)json["BatchSize"]!);
        Assert.False((bool)json["Augment"]!);
        Assert.Equal(0.5, (double)json["PeriodDropProbability"]!);
        Assert.Equal("impression", (string)json["DataOptions"]!["Sections"]![0]!);
    }

    [Fact]
    public void ASeedThatIsNotANumber_IsOneSentence_ExitCode2()
    {
        var (code, output, _) = MpirunTraining.Run(MpirunTraining.Dotnet, [MpirunTraining.Cli, "--seed", "one"], Limit);
        Assert.Equal(2, code);
        Assert.Contains("--seed must be a whole number, not 'one'.", output);
    }

    /// <summary>The run's train_options.json once it is complete JSON (it may be caught half written), else null.</summary>
    private JsonNode? WrittenOptions()
    {
        string runs = Path.Combine(_directory, "runs");
        string? file = Directory.Exists(runs) ? Directory.EnumerateFiles(runs, TrainingRun.OptionsFile, SearchOption.AllDirectories).FirstOrDefault() : null;
        if (file is null) return null;
        try
        {
            return JsonNode.Parse(File.ReadAllText(file));
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
