using System.CommandLine;
using MedClip.Data;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train texts --data SPEC [--sections S] [--split X] --out FILE.csv [data options]: writes what the model reads
/// (<see cref="TrainingTextTable"/>), so the text of any study can be checked before training.
/// </summary>
internal static class TextsCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Dataset: synthetic, mimic:DIR, roco:DIR or manifest:FILE (CSV or JSONL).", Required = true };
        var dataOptions = new DataOptionSet();
        var split = new Option<string?>("--split") { Description = "Only this split: train, validate or test (default: all)." };
        split.AcceptOnlyFromAmong("train", "validate", "test");
        var output = new Option<string>("--out") { Description = "CSV file to write: ids, split, labels, official MIMIC sections, the text.", Required = true };
        var command = new Command("texts", "Write the text the model reads for every study or image, with MIMIC-CXR's sections, as CSV.")
        {
            data, split, output,
        };
        dataOptions.AddTo(command);
        command.SetAction(parsed =>
        {
            var dataset = DatasetSpec.Parse(parsed.GetValue(data)!);
            if (dataset.Kind == DatasetSpec.Shards)
                throw new UsageException("texts reads a raw dataset; shards:DIR holds token ids, so give the dataset prep read.");
            string outPath = Path.GetFullPath(parsed.GetValue(output)!);
            string outFolder = Path.GetDirectoryName(outPath)!;
            if (!Directory.Exists(outFolder))
                throw new UsageException($"--out '{outPath}': the folder '{outFolder}' does not exist; create it first.");
            DatasetOptions options = dataOptions.Read(parsed);
            RawDataset raw = dataset.ReadRaw(outFolder, imageSize: 64, seed: 0, Console.WriteLine, options: options);
            (IReadOnlyList<string> columns, List<string[]> rows) = TrainingTextTable.Build(raw, dataset.TextPolicy(options), parsed.GetValue(split));
            CsvWriter.Write(outPath, columns, rows);
            int skipped = rows.Count(row => row[^1].Length > 0);
            Console.WriteLine($"Wrote {rows.Count} {(dataset.HasReports ? "studies" : "images")} ({rows.Count - skipped} with text, {skipped} skipped) to {outPath}.");
            Console.WriteLine($"Read: {raw.Summary}");
            return 0;
        });
        return command;
    }
}
