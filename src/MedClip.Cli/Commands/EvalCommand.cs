using System.CommandLine;
using MedClip.Data;
using MedClip.Evaluation;
using MedClip.Models;
using MedClip.Training;

namespace MedClip.Cli.Commands;

/// <summary>medclip-train eval --checkpoint DIR --data SPEC [--split test] [--device] [--out DIR]: zero-shot AUROC per label.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint folder, or a run folder (its latest checkpoint).", Required = true };
        var data = new Option<string>("--data") { Description = DataOptionSet.SpecDescription, Required = true };
        var dataOptions = new DataOptionSet();
        var split = new Option<string>("--split") { Description = "Split to evaluate: test, validate or train.", DefaultValueFactory = _ => "test" };
        var device = CommonOptions.Device();
        var output = new Option<string?>("--out") { Description = "Folder for metrics.json and predictions.csv (default <checkpoint>/eval)." };
        var command = new Command("eval", "Zero-shot classification AUROC per CheXpert label on a dataset split.") { checkpoint, data, split, device, output };
        dataOptions.AddTo(command);
        command.SetAction(parsed =>
        {
            string dir = ResolveCheckpoint(parsed.GetValue(checkpoint)!);
            var report = Run(dir, parsed.GetValue(data)!, parsed.GetValue(split)!, parsed.GetValue(device)!, parsed.GetValue(output) ?? Path.Combine(dir, "eval"),
                dataOptions.Read(parsed));
            return report is null ? 1 : 0;
        });
        return command;
    }

    public static string ResolveCheckpoint(string path) =>
        CheckpointStore.Latest(path) ?? (Directory.Exists(path) ? path : throw new UsageException($"Checkpoint folder '{path}' does not exist."));

    /// <summary>Evaluates and prints the per-label table; the synthetic set is looked up beside the run.</summary>
    public static ZeroShotReport? Run(string checkpoint, string dataSpec, string split, string device, string output, DatasetOptions? dataOptions = null)
    {
        var backend = DeviceSelection.Resolve(device, "fp32");
        var model = CheckpointModel.Load(checkpoint, backend);
        string runFolder = Path.GetDirectoryName(Path.GetFullPath(checkpoint))!;
        var data = DatasetSpec.Parse(dataSpec).Load(runFolder, model.Images.Size, seed: 0, Console.WriteLine, options: dataOptions);
        Console.WriteLine($"Data: {data}");
        var report = ZeroShotEvaluation.Run(model, data.Split(split), output);
        Console.WriteLine($"Zero-shot on {report.Images} {split} images (\"{{label}}\" vs \"no {{label}}\"):");
        foreach (var r in report.Labels)
            Console.WriteLine($"  {r.Label,-28} AUROC {(double.IsNaN(r.Auroc) ? "  n/a" : r.Auroc.ToString("F3"))}  ({r.Positives} pos, {r.Negatives} neg)");
        Console.WriteLine($"Mean AUROC over the five competition labels: {report.MeanCompetitionAuroc:F3}");
        Console.WriteLine($"Results: {Path.GetFullPath(output)} (metrics.json, predictions.csv)");
        return report;
    }
}
