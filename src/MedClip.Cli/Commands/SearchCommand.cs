using System.CommandLine;
using System.Globalization;
using MedClip.Inference;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train search --index FILE ("QUERY" | --image PATH) [--k N] [--checkpoint DIR] [--device]: the indexed
/// images nearest a text or an image, best first, with cosine similarities. The query is embedded by the checkpoint
/// that made the index (recorded in it); another checkpoint is refused.
/// </summary>
internal static class SearchCommand
{
    public static Command Create()
    {
        var index = new Option<string>("--index") { Description = "Index written by medclip-train index.", Required = true };
        var query = new Argument<string?>("query") { Description = "Text to search for.", Arity = ArgumentArity.ZeroOrOne };
        var image = new Option<string?>("--image") { Description = "Search by an image instead of a text." };
        var k = CommonOptions.PositiveInt("--k", "How many results (default 10).");
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint to embed the query (default: the one recorded in the index)." };
        var device = CommonOptions.Device();
        var command = new Command("search", "Rank indexed images by similarity to a text or an image.") { query, index, image, k, checkpoint, device };
        command.SetAction(parsed =>
        {
            string? text = parsed.GetValue(query), imagePath = parsed.GetValue(image);
            if ((text is null) == (imagePath is null)) throw new UsageException("search needs a query text or --image PATH (one of them).");
            var found = ImageIndex.Read(parsed.GetValue(index)!);
            string dir = EvalCommand.ResolveCheckpoint(parsed.GetValue(checkpoint) ?? found.Checkpoint);
            found.RequireCheckpoint(dir);
            var model = EvalCommand.LoadModel(dir, parsed.GetValue(device)!);
            var embedding = imagePath is null ? QueryEmbedding.OfText(model, text!) : QueryEmbedding.OfImage(model, imagePath);
            var hits = found.Search(embedding, parsed.GetValue(k) ?? 10);
            for (int i = 0; i < hits.Count; i++)
                Console.WriteLine($"{i + 1,4}  {hits[i].Score.ToString("0.0000", CultureInfo.InvariantCulture)}  {hits[i].Path}");
            return 0;
        });
        return command;
    }
}
