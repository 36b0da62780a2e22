using System.CommandLine;
using MedClip.Data;
using MedClip.Data.Shards;
using MedClip.Data.Text;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train prep --data SPEC --out DIR [--image-size PX] [--shard-size N] [--workers N] [--text-encoder HF_DIR]
/// [data options]: decodes, squares and resizes a dataset once into memory-mapped uint8 shards, with the texts tokenised
/// (the text encoder's vocab.txt, or one built from the training texts), that train and eval read as shards:DIR.
/// </summary>
internal static class PrepCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = DataOptionSet.SpecDescription, Required = true };
        var dataOptions = new DataOptionSet();
        var output = new Option<string>("--out") { Description = "Folder for the shards and manifest.json; rerunning into it resumes.", Required = true };
        var imageSize = CommonOptions.PositiveInt("--image-size", "Side of the stored square images in pixels (default 224).");
        var shardSize = CommonOptions.PositiveInt("--shard-size", $"Input images per shard file (default {DatasetPrep.DefaultShardSize}).");
        var workers = CommonOptions.PositiveInt("--workers", "Shards prepared at once (default: one per core).");
        var textEncoder = new Option<string?>("--text-encoder")
        {
            Description = "Hugging Face folder whose vocab.txt tokenises (default: built from texts)",
        };
        var command = new Command("prep", "Decode and resize a dataset once into memory-mapped shards with texts and labels.")
        {
            data, output, imageSize, shardSize, workers, textEncoder,
        };
        dataOptions.AddTo(command);
        command.SetAction(parsed =>
        {
            string spec = parsed.GetValue(data)!;
            string outDir = parsed.GetValue(output)!;
            int size = parsed.GetValue(imageSize) ?? 224;
            if (size is < 16 or > 4096) throw new UsageException($"--image-size {size} must be between 16 and 4096.");
            OutputFolders.RequireWritable(outDir, "--out");
            var dataset = DatasetSpec.Parse(spec);
            if (dataset.Kind == DatasetSpec.Shards) throw new UsageException("prep reads a raw dataset; shards:DIR is already prepared.");
            var progress = new ConsoleProgress();
            var loaded = progress.Run(() => dataset.Load(outDir, size, seed: 0, progress.OnMessage, options: dataOptions.Read(parsed), progress: progress));
            Console.WriteLine($"Data: {loaded}");
            var tokenizer = parsed.GetValue(textEncoder) is string encoder
                ? ReportTokenizer.FromFolder(encoder)
                : new ReportTokenizer(WordPieceVocabularyBuilder.Build((loaded.Train.Count > 0 ? loaded.Train : [.. loaded.Validation, .. loaded.Test]).Select(s => s.Text)));
            var result = progress.Run(() => DatasetPrep.Run(loaded, dataset.ToString(), outDir, size, tokenizer,
                parsed.GetValue(shardSize) ?? DatasetPrep.DefaultShardSize, parsed.GetValue(workers), progress: progress));
            Console.WriteLine($"Prepared {result.Summary}");
            Console.WriteLine($"{result.Shards} shards ({result.ShardsReused} reused from an earlier run), {result.ImagesDecoded} images decoded in " +
                $"{result.Elapsed.TotalSeconds:F1} s: {result.ImagesPerSecond:F1} images/s at {size} px.");
            Console.WriteLine($"Shards: {Path.GetFullPath(outDir)} (manifest.json, {LoadSummary.FileName}); content SHA-256 {result.ContentHash}");
            if (result.Summary.Kept > 0)
                return 0;
            Console.Error.WriteLine($"No image of {dataset} could be prepared ({result.Summary}); see {Path.Combine(outDir, LoadSummary.FileName)}.");
            return 1;
        });
        return command;
    }
}
