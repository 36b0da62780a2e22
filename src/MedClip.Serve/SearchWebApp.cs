using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using MedClip.Inference;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MedClip.Serve;

/// <summary>
/// The local web app: pages and script from embedded resources, and a JSON API over the index and the model:
/// search by text, nearest images of an indexed image, an indexed image, its thumbnail and report, zero-shot reading
/// of an uploaded image, and the run's training curves. Only indexed files are served; errors are JSON
/// {"error": sentence}, never a stack trace.
/// </summary>
public static class SearchWebApp
{
    public const int MaxResults = 100;

    public static WebApplication Build(ServeState state, ServeOptions options)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxUploadBytes + 64 * 1024);
        builder.WebHost.UseUrls($"http://{(options.Host.Contains(':') ? $"[{options.Host}]" : options.Host)}:{options.Port}");
        builder.Services.Configure<FormOptions>(f => f.MultipartBodyLengthLimit = options.MaxUploadBytes);
        var app = builder.Build();
        app.UseExceptionHandler(error => error.Run(context =>
            Error(500, "The server could not answer this request.").ExecuteAsync(context)));
        var thumbnails = new Thumbnails();

        app.MapGet("/", () => Asset("index.html"));
        app.MapGet("/curves", () => Asset("curves.html"));
        app.MapGet("/assets/{name}", (string name) => Asset(name));

        app.MapGet("/api/search", (string? q, int? k) =>
        {
            if (string.IsNullOrWhiteSpace(q)) return Error(400, "Type a text to search for.");
            var query = state.WithModel(m => QueryEmbedding.OfText(m, q));
            return Json(new JsonObject { ["query"] = q, ["results"] = Hits(state.Index.Search(query, Count(k))) });
        });
        app.MapGet("/api/similar", (string? path, int? k) =>
        {
            if (state.IndexedFile(path) is null) return NotIndexed(path);
            var row = state.Index.RowOf(path!)!.Value;
            return Json(new JsonObject { ["path"] = path, ["results"] = Hits(state.Index.Search(state.Index.Embeddings.Row(row), Count(k) + 1).Where(h => h.Row != row)) });
        });
        app.MapGet("/api/image", (string? path) =>
            state.IndexedFile(path) is { } file ? Results.File(file, ContentType(file)) : NotIndexed(path));
        app.MapGet("/api/thumbnail", (string? path) =>
            state.IndexedFile(path) is not { } file ? NotIndexed(path)
            : thumbnails.For(file) is { } jpeg ? Results.Bytes(jpeg, "image/jpeg")
            : Error(422, $"'{path}' can no longer be decoded."));
        app.MapGet("/api/report", (string? path) =>
            state.IndexedFile(path) is { } file ? Json(new JsonObject { ["path"] = path, ["report"] = ImageReport.Find(file) }) : NotIndexed(path));
        app.MapPost("/api/classify", (HttpRequest request) => Classify(request, state, options));
        app.MapGet("/api/curves", () =>
        {
            var c = state.Curves();
            return Json(new JsonObject
            {
                ["source"] = c?.Path,
                ["loss"] = Series(c?.Loss),
                ["val_loss"] = Series(c?.ValidationLoss),
                ["logit_scale"] = Series(c?.LogitScale),
            });
        });
        return app;
    }

    /// <summary>Starts the app and returns the address it listens on (the port chosen by the system when 0 was asked).</summary>
    public static async Task<string> StartAsync(WebApplication app)
    {
        await app.StartAsync();
        return app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    private static async Task<IResult> Classify(HttpRequest request, ServeState state, ServeOptions options)
    {
        IFormFile? upload;
        try
        {
            if (!request.HasFormContentType) return Error(400, "Send the image as a form upload.");
            upload = (await request.ReadFormAsync()).Files.GetFile("image");
        }
        catch (Exception e) when (e is BadHttpRequestException or InvalidDataException or IOException)
        {
            return Error(413, $"The upload is larger than {options.MaxUploadBytes / (1024 * 1024)} MB or incomplete; choose a smaller image.");
        }
        if (upload is null || upload.Length == 0) return Error(400, "Choose an image file to upload.");
        string temp = Path.Combine(Path.GetTempPath(), $"medclip-upload-{Guid.NewGuid():N}{Path.GetExtension(upload.FileName)}");
        try
        {
            await using (var file = File.Create(temp)) await upload.CopyToAsync(file);
            var embedding = state.WithModel(m => QueryEmbedding.OfImage(m, temp));
            var p = state.Reader.Probabilities(embedding);
            return Json(new JsonObject
            {
                ["name"] = upload.FileName,
                ["form"] = state.Reader.Prompts.Form.ToString().ToLowerInvariant(),
                ["labels"] = new JsonArray([.. state.Reader.Texts.Select((t, i) => (JsonNode)new JsonObject
                {
                    ["label"] = t.Label,
                    ["probability"] = p[i],
                    ["positive"] = Strings(t.Positive),
                    ["negative"] = Strings(t.Negative),
                })]),
            });
        }
        catch (InvalidDataException e)
        {
            return Error(422, e.Message.Replace(temp, upload.FileName));
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private static int Count(int? k) => Math.Clamp(k ?? 24, 1, MaxResults);

    private static JsonArray Hits(IEnumerable<SearchHit> hits) =>
        new([.. hits.Select(h => (JsonNode)new JsonObject { ["path"] = h.Path, ["score"] = h.Score })]);

    private static JsonArray Series(IEnumerable<(int Step, double Value)>? points) =>
        new([.. (points ?? []).Select(p => (JsonNode)new JsonArray(p.Step, p.Value))]);

    private static JsonArray? Strings(IEnumerable<string>? texts) => texts is null ? null : new([.. texts.Select(t => (JsonNode?)t)]);

    // JSON written from nodes, so a trimmed build needs no reflection over anonymous types.
    private static IResult Json(JsonNode body, int status = 200) =>
        Results.Text(body.ToJsonString(), "application/json", Encoding.UTF8, status);

    private static IResult NotIndexed(string? path) => Error(404, $"'{path}' is not an image of this index.");

    private static IResult Error(int status, string message) => Json(new JsonObject { ["error"] = message }, status);

    private static string ContentType(string path) => Path.GetExtension(path).ToLowerInvariant() == ".png" ? "image/png" : "image/jpeg";

    private static IResult Asset(string name)
    {
        var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("assets/" + name);
        if (stream is null) return Error(404, $"No page '{name}'.");
        string type = Path.GetExtension(name) switch { ".html" => "text/html; charset=utf-8", ".js" => "text/javascript", ".css" => "text/css", _ => "application/octet-stream" };
        return Results.Stream(stream, type);
    }
}
