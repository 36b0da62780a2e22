using System.CommandLine;
using MedClip.Data;
using MedClip.Evaluation;
using MedClip.Inference;
using MedClip.Training;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train eval --checkpoint DIR --data SPEC [--split test] [--device] [--out DIR] [--prompts FILE]
/// [--uncertain exclude|positive|negative] [--seed S]: zero-shot AUROC with intervals, 5x200, retrieval and a linear
/// probe, written as metrics.json, predictions.csv and report.md with plots.
/// </summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint folder, or a run folder (its latest checkpoint).", Required = true }
            .In(OptionGroups.Model, "DIR");
        var data = new Option<string>("--data") { Description = DataOptionSet.SpecDescription, Required = true }.In(OptionGroups.Data, "SPEC");
        var dataOptions = new DataOptionSet(mapUncertainLabels: false);
        var split = new Option<string>("--split") { Description = "Split to evaluate.", DefaultValueFactory = _ => "test" }
            .In(OptionGroups.Data, "test|validate|train");
        var device = CommonOptions.Device();
        var output = new Option<string?>("--out") { Description = "Output folder (default eval/ in the --checkpoint folder)" }.In(OptionGroups.Output, "DIR");
        var prompts = new Option<string?>("--prompts") { Description = "JSON prompts per label (default \"{label}\" vs \"no {label}\")" }
            .In(OptionGroups.Evaluation, "FILE");
        var uncertain = new Option<string>("--uncertain") { Description = "How uncertain (-1) labels count.", DefaultValueFactory = _ => "exclude" }
            .In(OptionGroups.Evaluation, "exclude|positive|negative");
        uncertain.AcceptOnlyFromAmong("exclude", "positive", "negative");
        var seed = new Option<int>("--seed") { Description = "Seed of the bootstrap resamples and the 5x200 sample.", DefaultValueFactory = _ => 0 }
            .In(OptionGroups.Evaluation, "N");
        var command = new Command("eval", "Zero-shot AUROC with 95% CIs, 5x200, retrieval and a linear probe on a split.")
        {
            checkpoint, data, split, device, output, prompts, uncertain, seed,
        };
        dataOptions.AddTo(command);
        command.SetAction(parsed =>
        {
            string given = parsed.GetValue(checkpoint)!;
            string dir = ResolveCheckpoint(given);
            string commandLine = "medclip-train " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).Select(QuoteArgument));
            var report = Run(dir, parsed.GetValue(data)!, parsed.GetValue(split)!, parsed.GetValue(device)!, parsed.GetValue(output) ?? DefaultOutput(given),
                commandLine, parsed.GetValue(prompts), BinaryTargets.Parse(parsed.GetValue(uncertain)!), parsed.GetValue(seed), dataOptions.Read(parsed));
            return report is null ? 1 : 0;
        });
        return command;
    }

    /// <summary>eval/ inside the folder named by --checkpoint: a run folder's, or one checkpoint's (docs/cli.md).</summary>
    public static string DefaultOutput(string checkpointArgument) => Path.Combine(checkpointArgument, "eval");

    public static string ResolveCheckpoint(string path) =>
        CheckpointStore.Latest(path) ?? (Directory.Exists(path) ? path : throw new UsageException($"Checkpoint folder '{path}' does not exist."));

    /// <summary>
    /// Loads a MedClip checkpoint or a Hugging Face CLIPModel folder for inference (<see cref="CheckpointModel.Load"/>); a
    /// missing or unusable file is refused in one sentence naming it.
    /// </summary>
    public static CheckpointModel LoadModel(string checkpoint, string device) => CheckpointModel.Load(checkpoint, DeviceSelection.Resolve(device));

    /// <summary>Evaluates, writes the outputs and prints the summary; the synthetic set is looked up beside the run.</summary>
    public static EvaluationReport? Run(string checkpoint, string dataSpec, string split, string device, string output, string commandLine,
        string? promptFile = null, UncertainLabels uncertain = UncertainLabels.Exclude, int seed = 0, DatasetOptions? dataOptions = null)
    {
        OutputFolders.RequireWritable(output, "--out");
        using var reading = CheckpointStore.OpenForReading(checkpoint); // training's retention leaves this checkpoint alone meanwhile
        var model = LoadModel(checkpoint, device);
        string runFolder = Path.GetDirectoryName(Path.GetFullPath(checkpoint))!;
        var progress = new ConsoleProgress();
        var report = progress.Run(() =>
        {
            var data = DatasetSpec.Parse(dataSpec).Load(runFolder, model.Images.Size, seed: 0, progress.OnMessage, options: dataOptions, progress: progress);
            var prompts = promptFile is null ? PromptSet.Default : PromptSet.Read(promptFile, EvaluationRun.LabelsOf(data.Split(split)));
            var options = new EvaluationOptions(commandLine, checkpoint, dataSpec, split, prompts, uncertain, seed, StartingPoint: StartingPoint.ForCheckpoint(checkpoint));
            return EvaluationRun.Run(model, data.Split(split), data.Train, options, progress.OnMessage, progress);
        });
        EvaluationOutputs.Write(report, output);
        Print(report, output);
        return report;
    }

    private static void Print(EvaluationReport r, string output)
    {
        Console.WriteLine($"Evaluated {r.Evaluated.Count} of {r.ImagesListed} {r.Options.Split} images ({r.Skipped.Summary()}).");
        foreach (var (reason, _) in r.Skipped.Counts) Console.WriteLine($"  e.g. {r.Skipped.FirstMessage(reason)}");
        if (r.LabelsNotice is not null) Console.WriteLine($"Note: {r.LabelsNotice}.");
        if (r.ZeroShot is not null)
        {
            var probe = r.Probe?.ToDictionary(p => p.Result.Label, p => p.Result);
            Console.WriteLine($"Zero-shot AUROC [95% CI] (prompts: {r.Options.Prompts.Source}; uncertain: {BinaryTargets.Name(r.Options.Uncertain)}), linear probe beside:");
            foreach (var b in r.ZeroShot)
            {
                string probeText = probe?.GetValueOrDefault(b.Label) is { } p ? "   probe " + ReportMarkdown.Auroc(p) : "";
                Console.WriteLine($"  {b.Label,-28} {ReportMarkdown.Auroc(b),-26} ({b.Positives} pos, {b.Negatives} neg){probeText}");
            }
            Console.WriteLine($"Mean AUROC over the five competition labels: {ReportMarkdown.Mean(r.ZeroShotMean!)}" +
                (r.ProbeMean is { } pm ? $"; linear probe {ReportMarkdown.Mean(pm)}" : ""));
        }
        if (r.ProbeNotice is not null && r.LabelsNotice is null) Console.WriteLine($"Linear probe not run: {r.ProbeNotice}.");
        if (r.FiveByTwoHundred is { } f)
            Console.WriteLine($"5x200 ({f.Truth.Length} images): accuracy {ReportMarkdown.F(f.Accuracy)} {ReportMarkdown.Ci(f.AccuracyInterval)}, " +
                $"macro-F1 {ReportMarkdown.F(f.MacroF1)} {ReportMarkdown.Ci(f.MacroF1Interval)}");
        else if (r.LabelsNotice is null) Console.WriteLine($"5x200 not run: {r.FiveByTwoHundredNotice}.");
        if (r.Retrieval is { } t)
            Console.WriteLine($"Retrieval ({t.Pairs} pairs, {t.DuplicateTexts} duplicate reports): image_to_text R@1/5/10 " +
                $"{ReportMarkdown.F(t.ImageToText.Recall(1))}/{ReportMarkdown.F(t.ImageToText.Recall(5))}/{ReportMarkdown.F(t.ImageToText.Recall(10))}, " +
                $"text_to_image R@1/5/10 {ReportMarkdown.F(t.TextToImage.Recall(1))}/{ReportMarkdown.F(t.TextToImage.Recall(5))}/{ReportMarkdown.F(t.TextToImage.Recall(10))}, " +
                $"median rank {t.ImageToText.MedianRank:F0}/{t.TextToImage.MedianRank:F0}");
        Console.WriteLine($"Results: {Path.GetFullPath(output)} (metrics.json, predictions.csv, report.md)");
    }

    private static string QuoteArgument(string a) => a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./:=@,+".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}
