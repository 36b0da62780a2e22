using System.Diagnostics;
using System.Text.RegularExpressions;
using MedClip.Tests.Distributed;
using MedClip.Tests.Inference;

namespace MedClip.Tests.Serve;

/// <summary>
/// `medclip-train serve` on 127.0.0.1 and a free port, over an index of the generated images of a tiny model trained
/// for a few steps; stopped (by its process id) when the tests are done.
/// </summary>
public sealed partial class ServedIndex : IDisposable
{
    private readonly Process _serve;

    public ServedIndex()
    {
        Run = new TrainedRunFixture();
        Index = Path.Combine(Run.Directory, "serve-index.safetensors");
        var (code, output, _) = Run.Run("index", "--checkpoint", Run.RunFolder, "--device", "cpu", "--images-dir", ImagesRoot, "--out", Index);
        if (code != 0) throw new InvalidOperationException(output);
        var start = new ProcessStartInfo(MpirunTraining.Dotnet,
            [MpirunTraining.Cli, "serve", "--checkpoint", Run.RunFolder, "--index", Index, "--port", "0", "--device", "cpu", "--max-upload-mb", "1"])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment.Remove("MEDCLIP_CUDA");
        _serve = Process.Start(start)!;
        var lines = new List<string>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(2) && _serve.StandardOutput.ReadLine() is { } line)
        {
            lines.Add(line);
            if (ServingAddress().Match(line) is { Success: true } m)
            {
                Url = m.Groups[1].Value;
                return;
            }
        }
        _serve.Kill();
        throw new InvalidOperationException("serve did not start: " + string.Join('\n', lines) + _serve.StandardError.ReadToEnd());
    }

    public TrainedRunFixture Run { get; }
    public string Index { get; }
    public string ImagesRoot => Path.Combine(Run.Data, "files");
    public string Url { get; } = "";

    [GeneratedRegex(@" at (http://127\.0\.0\.1:\d+) ")]
    private static partial Regex ServingAddress();

    public void Dispose()
    {
        _serve.Kill();
        _serve.WaitForExit();
        _serve.Dispose();
        Run.Dispose();
    }
}
