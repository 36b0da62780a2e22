using System.Diagnostics;

namespace MedClip.Tests.Cli;

/// <summary>
/// The install path of docs/install.md from a fresh clone of the committed tree: dotnet pack makes the medclip tool
/// package, dotnet tool install puts medclip-train into a tool folder, and the installed command answers --help.
/// </summary>
public sealed class ToolInstallTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-tool-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void FreshClone_PackThenToolInstall_GivesAWorkingMedclipTrain()
    {
        string clone = Path.Combine(_dir, "clone"), packages = Path.Combine(_dir, "nupkg"), tools = Path.Combine(_dir, "tools");
        string head = Run("git", ["-C", RepositoryPaths.Root, "rev-parse", "HEAD"], RepositoryPaths.Root).Trim();
        Run("git", ["clone", "--quiet", "--no-checkout", RepositoryPaths.Root, clone], _dir);
        Run("git", ["-C", clone, "checkout", "--quiet", head], _dir);

        Run("dotnet", ["pack", "src/MedClip.Cli", "-c", "Release", "-o", packages, "-v", "q"], clone);
        Assert.Single(Directory.GetFiles(packages, "medclip.*.nupkg"));
        Run("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", packages, "medclip"], _dir);

        string help = Run(Path.Combine(tools, "medclip-train"), ["train", "--help"], _dir);
        Assert.Contains("Usage: medclip-train train [options]", help);
        Assert.Contains("--report-to", help);
    }

    private static string Run(string file, string[] arguments, string workingDirectory)
    {
        var start = new ProcessStartInfo(file, arguments) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{output}\n{stderr.Result}");
        return output;
    }
}
