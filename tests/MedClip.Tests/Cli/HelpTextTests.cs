using System.Diagnostics;
using MedClip.Tests.Distributed;

namespace MedClip.Tests.Cli;

/// <summary>Help as users read it: one line per option, grouped, each default once, required options showing help rather than an error.</summary>
public sealed class HelpTextTests
{
    private const int MaxLine = 110;

    private static (int ExitCode, string Output) Run(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [MpirunTraining.Cli, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + stderr.Result);
    }

    [Theory]
    [InlineData("train")]
    [InlineData("eval")]
    [InlineData("embed")]
    [InlineData("synth")]
    [InlineData("prep")]
    [InlineData("bench")]
    [InlineData("selftest")]
    [InlineData("convert")]
    [InlineData("kernels")]
    [InlineData("texts")]
    [InlineData("classify")]
    [InlineData("index")]
    [InlineData("search")]
    [InlineData("serve")]
    [InlineData("probe")]
    public void EveryOption_IsOneShortLine_WithItsDefaultWrittenOnce(string command)
    {
        var (exitCode, output) = Run(command, "--help");
        Assert.Equal(0, exitCode);
        string[] lines = output.Split('\n');
        Assert.All(lines, line => Assert.True(line.Length <= MaxLine, $"{line.Length} characters: {line}"));
        Assert.DoesNotContain("[default:", output);
        Assert.All(lines.Where(l => l.TrimStart().StartsWith("--")), l => Assert.True(l.Split("(default ").Length <= 2, l));
    }

    [Fact]
    public void TopLevelHelp_ListsEveryCommandOnOneShortLine()
    {
        var (exitCode, output) = Run("--help");
        Assert.Equal(0, exitCode);
        Assert.All(output.Split('\n'), line => Assert.True(line.Length <= MaxLine, $"{line.Length} characters: {line}"));
        foreach (string command in new[] { "train", "eval", "classify", "serve", "texts", "probe" })
            Assert.Contains($"\n  {command} ", output);
    }

    [Fact]
    public void TrainHelp_GroupsTheOptions_AndKeepsMimicOptionsInTheirOwnSection()
    {
        var (_, output) = Run("train", "--help");
        string[] sections = ["Model:", "Data:", "MIMIC-CXR", "Manifest", "Optimisation:", "Precision and device:", "Distributed", "Output:"];
        int[] at = sections.Select(s => output.IndexOf("\n" + s, StringComparison.Ordinal)).ToArray();
        Assert.All(at, i => Assert.True(i >= 0));
        Assert.Equal(at.Order(), at);
        foreach (string option in new[] { "--wd X", "--workers N", "--val-every N", "--image-size PX", "--report-to LIST", "--csv-separator" })
            Assert.Contains(option, output);
        int mimic = Array.IndexOf(sections, "MIMIC-CXR");
        int views = output.IndexOf("--views", StringComparison.Ordinal);
        Assert.InRange(views, at[mimic], at[mimic + 1]);
    }
}
