using System.CommandLine;
using MedClip.Data.Loading;
using MedClip.Inference;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train index --checkpoint DIR --images-dir DIR --out FILE.safetensors [--device]: the folder's normalised
/// image embeddings with their relative paths, the checkpoint's hash and the preprocessing, for search and serve.
/// </summary>
internal static class IndexCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint folder, or a run folder (its latest checkpoint).", Required = true };
        var imagesDir = new Option<string>("--images-dir") { Description = "Folder of images to index (subfolders included).", Required = true };
        var output = new Option<string>("--out") { Description = "Output index (.safetensors).", Required = true };
        var device = CommonOptions.Device();
        var command = new Command("index", "Embed a folder of images for search and serve.") { checkpoint, imagesDir, output, device };
        command.SetAction(parsed =>
        {
            string dir = EvalCommand.ResolveCheckpoint(parsed.GetValue(checkpoint)!);
            string folder = parsed.GetValue(imagesDir)!, outPath = parsed.GetValue(output)!;
            if (!Directory.Exists(folder)) throw new UsageException($"--images-dir '{folder}' is not a folder.");
            var model = EvalCommand.LoadModel(dir, parsed.GetValue(device)!);
            var skipped = new SkipCounter();
            var index = ImageIndex.Build(model, dir, folder, skipped);
            index.Write(outPath);
            Console.WriteLine($"{index.Paths.Count} images indexed ({skipped.Summary()}).");
            foreach (var (reason, _) in skipped.Counts) Console.WriteLine($"  e.g. {skipped.FirstMessage(reason)}");
            Console.WriteLine($"Index: {Path.GetFullPath(outPath)}");
            return 0;
        });
        return command;
    }
}
