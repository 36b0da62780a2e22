using System.CommandLine;
using System.Text.Json;
using MedClip.Data.Loading;
using MedClip.Inference;
using MedClip.IO;
using MedClip.Models;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train embed --checkpoint DIR [--images FILE|DIR] [--texts FILE] [--device] --out FILE.safetensors:
/// L2-normalised image_embeds [N, D] and text_embeds [M, D], rows in input order (a folder's images sorted by path);
/// unreadable images are skipped and counted, and image_indices [N] gives each row's input position. Beside them:
/// logit_scale [1] (its log, as in Hugging Face: logits = exp(logit_scale) img txt^T) and, in the metadata,
/// image_paths and texts (JSON lists in row order).
/// </summary>
internal static class EmbedCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint folder, or a run folder (its latest checkpoint).", Required = true };
        var images = new Option<string?>("--images") { Description = "An image file, or a folder of images (sorted by path)." };
        var texts = new Option<string?>("--texts") { Description = "A text file with one text per line." };
        var device = CommonOptions.Device();
        var output = new Option<string>("--out") { Description = "Output .safetensors file.", Required = true };
        var command = new Command("embed", "Write L2-normalised image and text embeddings to a safetensors file.") { checkpoint, images, texts, device, output };
        command.SetAction(parsed =>
        {
            string? imageArg = parsed.GetValue(images), textArg = parsed.GetValue(texts);
            if (imageArg is null && textArg is null) throw new UsageException("embed needs --images, --texts or both.");
            string outPath = parsed.GetValue(output)!;
            OutputFolders.RequireWritable(Path.GetDirectoryName(Path.GetFullPath(outPath))!, "--out");
            var model = EvalCommand.LoadModel(EvalCommand.ResolveCheckpoint(parsed.GetValue(checkpoint)!), parsed.GetValue(device)!);
            var tensors = new List<SafetensorsTensor> { SafetensorsTensor.FromFloat32("logit_scale", [1], [(float)Math.Log(model.LogitScale)]) };
            var metadata = new Dictionary<string, string>();
            if (imageArg is not null)
            {
                var paths = ImagePaths(imageArg);
                var skipped = new SkipCounter();
                var (e, kept) = model.EncodeImages(paths, skipped);
                tensors.Add(SafetensorsTensor.FromFloat32("image_embeds", [e.Count, e.Dimension], e.Data));
                // Which input each row is, since unreadable images are left out.
                tensors.Add(SafetensorsTensor.FromInt32("image_indices", [kept.Length], kept));
                metadata["image_paths"] = JsonSerializer.Serialize(kept.Select(i => paths[i]));
                Console.WriteLine($"{e.Count} of {paths.Count} images embedded ({skipped.Summary()}).");
                foreach (var (reason, _) in skipped.Counts) Console.WriteLine($"  e.g. {skipped.FirstMessage(reason)}");
            }
            if (textArg is not null)
            {
                if (!File.Exists(textArg)) throw new UsageException($"Text file '{textArg}' does not exist.");
                var lines = File.ReadAllLines(textArg);
                var e = model.EncodeTexts(lines);
                tensors.Add(SafetensorsTensor.FromFloat32("text_embeds", [e.Count, e.Dimension], e.Data));
                metadata["texts"] = JsonSerializer.Serialize(lines);
                Console.WriteLine($"{e.Count} texts embedded.");
            }
            SafetensorsFile.Write(outPath, tensors, metadata);
            Console.WriteLine($"Embeddings: {Path.GetFullPath(outPath)}");
            return 0;
        });
        return command;
    }

    private static IReadOnlyList<string> ImagePaths(string arg)
    {
        if (File.Exists(arg)) return [arg];
        if (!Directory.Exists(arg)) throw new UsageException($"--images '{arg}' is neither a file nor a folder.");
        return ImageFolder.List(arg, "--images");
    }
}
