using System.CommandLine;
using System.Net;
using MedClip.Inference;
using MedClip.Serve;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train serve --checkpoint DIR --index FILE [--port P] [--host 127.0.0.1] [--labels | --prompts]
/// [--max-upload-mb N] [--device]: the local web app of <see cref="SearchWebApp"/> until Ctrl+C.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint folder, or a run folder (its latest checkpoint).", Required = true };
        var index = new Option<string>("--index") { Description = "Index of the images to search, made by this checkpoint.", Required = true };
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port).", DefaultValueFactory = _ => 8080 };
        var host = new Option<string>("--host") { Description = "Address to bind; any but loopback exposes the app to the network.", DefaultValueFactory = _ => "127.0.0.1" };
        var labels = new Option<string?>("--labels") { Description = "Comma-separated labels that uploads are read with (softmax)." };
        var prompts = new Option<string?>("--prompts") { Description = "JSON prompt file that uploads are read with (default: CheXpert labels)." };
        var maxUpload = CommonOptions.PositiveInt("--max-upload-mb", "Largest upload accepted, in MB (default 20).");
        var device = CommonOptions.Device();
        var command = new Command("serve", "Local web app: image search, zero-shot reading of an upload, training curves.")
        {
            checkpoint, index, port, host, labels, prompts, maxUpload, device,
        };
        command.SetAction(async (parsed, cancel) =>
        {
            string address = parsed.GetValue(host)!;
            int portNumber = parsed.GetValue(port);
            if (!IPAddress.TryParse(address, out var ip) && address != "localhost") throw new UsageException($"--host '{address}' is not an IP address.");
            if (portNumber is < 0 or > 65535) throw new UsageException($"--port {portNumber} is not a port number (0 to 65535).");
            var set = ClassifyCommand.Prompts(parsed.GetValue(labels), parsed.GetValue(prompts));
            var found = ImageIndex.Read(parsed.GetValue(index)!);
            string dir = EvalCommand.ResolveCheckpoint(parsed.GetValue(checkpoint)!);
            found.RequireCheckpoint(dir);
            if (!Directory.Exists(found.Root)) throw new UsageException($"Index '{found.Source}' lists images under '{found.Root}', which no longer exists; rebuild it with medclip-train index.");
            var model = EvalCommand.LoadModel(dir, parsed.GetValue(device)!);
            var state = new ServeState(model, dir, found, ZeroShotReader.Create(model, set, set.Labels));
            var options = new ServeOptions(address, portNumber, (parsed.GetValue(maxUpload) ?? 20) * 1024L * 1024L);
            await using var app = SearchWebApp.Build(state, options);
            string url;
            try
            {
                url = await SearchWebApp.StartAsync(app);
            }
            catch (IOException e)
            {
                throw new UsageException($"Cannot listen on {address}:{portNumber} ({e.Message}); choose another --port.");
            }
            if (ip is not null && !IPAddress.IsLoopback(ip))
                Console.WriteLine($"Warning: --host {address} makes the app reachable from other machines.");
            Console.WriteLine($"Serving {found.Paths.Count} images of {found.Root} at {url} (Ctrl+C stops).");
            try
            {
                await Task.Delay(Timeout.Infinite, cancel);
            }
            catch (OperationCanceledException)
            {
            }
            await app.StopAsync(CancellationToken.None);
            return 0;
        });
        return command;
    }
}
