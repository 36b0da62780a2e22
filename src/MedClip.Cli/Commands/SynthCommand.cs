using System.CommandLine;
using System.Diagnostics;
using MedClip.Data.Synthetic;

namespace MedClip.Cli.Commands;

/// <summary><c>medclip-train synth --out DIR [--studies N] [--image-size PX] [--seed S]</c>: writes a synthetic dataset in the MIMIC-CXR-JPG layout.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "Folder to write the dataset to (new or empty).", Required = true };
        var studies = new Option<int>("--studies") { Description = "Number of studies, one frontal image and report each.", DefaultValueFactory = _ => 2000 };
        var imageSize = new Option<int>("--image-size") { Description = "Side of the square images in pixels.", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { Description = "Random seed; the same seed and size give the same bytes.", DefaultValueFactory = _ => 0 };
        studies.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
                result.AddError("--studies must be at least 1.");
        });
        imageSize.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 32 or > 2048)
                result.AddError("--image-size must be between 32 and 2048.");
        });

        var command = new Command("synth", "Write synthetic chest X-rays, reports and labels in the MIMIC-CXR-JPG layout.")
        {
            outDir, studies, imageSize, seed,
        };
        command.SetAction(parse => Run(parse.GetValue(outDir)!, parse.GetValue(studies), parse.GetValue(imageSize), parse.GetValue(seed)));
        return command;
    }

    private static int Run(string outDir, int studies, int imageSize, int seed)
    {
        var clock = Stopwatch.StartNew();
        SyntheticDatasetSummary summary;
        try
        {
            var progress = new ConsoleProgress();
            summary = progress.Run(() => SyntheticChestXrayGenerator.Generate(outDir, studies, imageSize, seed, progress));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        Console.WriteLine($"Wrote {summary.Studies} studies of {summary.Subjects} patients ({imageSize}x{imageSize} JPEG, seed {seed}) " +
            $"to {Path.GetFullPath(outDir)} in {clock.Elapsed.TotalSeconds:0.0} s.");
        Console.WriteLine("Studies by split: " + string.Join(", ", summary.StudiesBySplit.Select(pair => $"{pair.Key} {pair.Value}")));
        Console.WriteLine("Positive studies by label: " + string.Join(", ", summary.PositiveStudiesByLabel.Select(pair => $"{pair.Key} {pair.Value}")));
        return 0;
    }
}
