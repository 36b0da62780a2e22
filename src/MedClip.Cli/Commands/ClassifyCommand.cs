using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using MedClip.Data;
using MedClip.Data.Loading;
using MedClip.Evaluation;
using MedClip.Inference;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train classify --checkpoint DIR (--images PATH... | --images-dir DIR) [--labels "a,b" | --prompts FILE]
/// [--out FILE.csv] [--device]: zero-shot probabilities per image; a table for up to <see cref="MaxTableImages"/>
/// images, a CSV (image, then score_&lt;Label&gt; per label) with --out.
/// </summary>
internal static class ClassifyCommand
{
    public const int MaxTableImages = 20;

    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint folder, or a run folder (its latest checkpoint).", Required = true };
        var images = new Option<string[]>("--images") { Description = "Image files to read.", AllowMultipleArgumentsPerToken = true };
        var imagesDir = new Option<string?>("--images-dir") { Description = "A folder of images (read in path order)." };
        var labels = new Option<string?>("--labels") { Description = "Comma-separated free-text labels: a softmax over them." };
        var prompts = new Option<string?>("--prompts") { Description = "JSON prompts: label -> [texts] (softmax) or label -> {positive, negative}." };
        var output = new Option<string?>("--out") { Description = $"CSV file of the probabilities (needed for more than {MaxTableImages} images)." };
        var device = CommonOptions.Device();
        var command = new Command("classify", "Zero-shot probabilities of labels for images.") { checkpoint, images, imagesDir, labels, prompts, output, device };
        command.SetAction(parsed =>
        {
            string[] files = parsed.GetValue(images) ?? [];
            string? folder = parsed.GetValue(imagesDir), labelList = parsed.GetValue(labels), promptFile = parsed.GetValue(prompts), outPath = parsed.GetValue(output);
            if ((files.Length > 0) == (folder is not null)) throw new UsageException("classify needs either --images PATH... or --images-dir DIR.");
            var paths = folder is null ? files : ImageFolder.List(folder, "--images-dir");
            if (paths.Count > MaxTableImages && outPath is null)
                throw new UsageException($"classify of {paths.Count} images writes a CSV: add --out FILE.csv.");
            var set = Prompts(labelList, promptFile);

            var clock = Stopwatch.StartNew();
            var model = EvalCommand.LoadModel(EvalCommand.ResolveCheckpoint(parsed.GetValue(checkpoint)!), parsed.GetValue(device)!);
            var loaded = clock.Elapsed;
            var reader = ZeroShotReader.Create(model, set, set.Labels);
            var prompted = clock.Elapsed;
            var skipped = new SkipCounter();
            var (embeddings, kept) = model.EncodeImages(paths, skipped);
            if (kept.Length == 0) throw new UsageException($"None of the {paths.Count} images could be read: {skipped.FirstMessage(skipped.Counts[0].Key)}");
            var probabilities = reader.Probabilities(embeddings);
            var read = clock.Elapsed;

            if (kept.Length <= MaxTableImages) PrintTable(reader, kept.Select(k => paths[k]).ToList(), probabilities);
            if (outPath is not null)
            {
                CsvWriter.Write(outPath, ["image", .. reader.Labels.Select(l => "score_" + l)],
                    kept.Select((k, i) => (IReadOnlyList<string>)[paths[k], .. probabilities[i].Select(p => p.ToString("0.######", CultureInfo.InvariantCulture))]));
                Console.WriteLine($"Probabilities: {Path.GetFullPath(outPath)}");
            }
            Console.WriteLine($"{kept.Length} of {paths.Count} images read ({skipped.Summary()}); prompts: {set.Source}, " +
                (set.Form == PromptForm.Classes ? "softmax over the labels." : "each label from its positive and negative prompts."));
            foreach (var (reason, _) in skipped.Counts) Console.WriteLine($"  e.g. {skipped.FirstMessage(reason)}");
            Console.WriteLine($"Time: checkpoint {loaded.TotalSeconds:F2} s, prompts {(prompted - loaded).TotalSeconds:F2} s, " +
                $"images {(read - prompted).TotalSeconds:F2} s ({model.Model.Backend.Name}).");
            return 0;
        });
        return command;
    }

    /// <summary>The prompts of --labels or --prompts (one of them at most); neither: the CheXpert labels' default pairs.</summary>
    public static PromptSet Prompts(string? labelList, string? promptFile)
    {
        if (labelList is not null && promptFile is not null) throw new UsageException("Give --labels or --prompts, not both.");
        return promptFile is not null ? PromptSet.Read(promptFile)
            : labelList is not null ? PromptSet.ForClasses(ParseLabels(labelList))
            : PromptSet.DefaultPairs(EvaluationRun.Labels);
    }

    private static IReadOnlyList<string> ParseLabels(string list)
    {
        var labels = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (labels.Length < 2) throw new UsageException($"--labels '{list}' needs at least two comma-separated labels for a softmax.");
        if (labels.Distinct(StringComparer.Ordinal).Count() != labels.Length) throw new UsageException($"--labels '{list}' names a label twice.");
        return labels;
    }

    /// <summary>One row per label, one column per image (#1, #2, ...), the images listed under the table.</summary>
    private static void PrintTable(ZeroShotReader reader, IReadOnlyList<string> images, double[][] probabilities)
    {
        int width = Math.Max(5, reader.Labels.Max(l => l.Length));
        Console.WriteLine("label".PadRight(width) + string.Concat(images.Select((_, i) => $"#{i + 1}".PadLeft(8))));
        for (int l = 0; l < reader.Labels.Count; l++)
            Console.WriteLine(reader.Labels[l].PadRight(width) + string.Concat(probabilities.Select(p => p[l].ToString("0.000", CultureInfo.InvariantCulture).PadLeft(8))));
        for (int i = 0; i < images.Count; i++) Console.WriteLine($"#{i + 1} {images[i]}");
    }
}
