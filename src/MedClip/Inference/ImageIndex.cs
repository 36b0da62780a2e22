using System.Text.Json;
using MedClip.Data.Images;
using MedClip.Data.Loading;
using MedClip.Evaluation;
using MedClip.IO;
using MedClip.Models;

namespace MedClip.Inference;

/// <summary>One search result: a row of the index, its path relative to the indexed folder, and its cosine similarity.</summary>
public readonly record struct SearchHit(int Row, string Path, float Score);

/// <summary>
/// The normalised image embeddings of a folder, searchable by a query embedding. Stored as safetensors:
/// image_embeds [N, D] F32, and in the metadata the paths relative to the folder (JSON list, row order), the folder,
/// the checkpoint's folder and the SHA-256 of its weights, and the preprocessing (JSON).
/// </summary>
public sealed class ImageIndex
{
    public const string Format = "medclip-image-index/1";

    private ImageIndex(string source, EmbeddingMatrix embeddings, IReadOnlyList<string> paths, string root, string checkpoint, string checkpointSha256, string preprocessing)
    {
        Source = source;
        Embeddings = embeddings;
        Paths = paths;
        Root = root;
        Checkpoint = checkpoint;
        CheckpointSha256 = checkpointSha256;
        Preprocessing = preprocessing;
        _rows = paths.Select((p, i) => (p, i)).ToDictionary(x => x.p, x => x.i, StringComparer.Ordinal);
    }

    private readonly Dictionary<string, int> _rows;

    /// <summary>The index file it was read from, or the folder it was built from.</summary>
    public string Source { get; }
    public EmbeddingMatrix Embeddings { get; }
    public IReadOnlyList<string> Paths { get; }
    public string Root { get; }
    public string Checkpoint { get; }
    public string CheckpointSha256 { get; }
    public string Preprocessing { get; }

    /// <summary>The row of an indexed relative path, or null.</summary>
    public int? RowOf(string relativePath) => _rows.TryGetValue(relativePath, out int row) ? row : null;

    /// <summary>Embeds every image under <paramref name="folder"/>; unreadable ones are counted in <paramref name="skipped"/> and left out.</summary>
    public static ImageIndex Build(CheckpointModel model, string checkpoint, string folder, SkipCounter skipped)
    {
        string root = Path.GetFullPath(folder);
        var paths = ImageFolder.List(root, "--images-dir");
        var (embeddings, kept) = model.EncodeImages(paths, skipped);
        if (kept.Length == 0) throw new InvalidDataException($"None of the {paths.Count} images in '{folder}' could be read ({skipped.Summary()}).");
        return new ImageIndex(root, embeddings, kept.Select(k => ImageFolder.Relative(root, paths[k])).ToList(), root, Path.GetFullPath(checkpoint),
            EvaluationHashes.Checkpoint(checkpoint), PreprocessingJson(model.Images));
    }

    public static string PreprocessingJson(ImagePreprocessor images) =>
        JsonSerializer.Serialize(new { image_size = images.Size, image_mean = images.Mean, image_std = images.Std });

    public void Write(string path) => SafetensorsFile.Write(path,
        [SafetensorsTensor.FromFloat32("image_embeds", [Embeddings.Count, Embeddings.Dimension], Embeddings.Data)],
        new Dictionary<string, string>
        {
            ["format"] = Format,
            ["paths"] = JsonSerializer.Serialize(Paths),
            ["root"] = Root,
            ["checkpoint"] = Checkpoint,
            ["checkpoint_sha256"] = CheckpointSha256,
            ["preprocessing"] = Preprocessing,
        });

    public static ImageIndex Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Index '{path}' does not exist; write one with medclip-train index.", path);
        using var file = SafetensorsFile.Read(path);
        string Meta(string key) => file.Metadata.GetValueOrDefault(key)
            ?? throw new InvalidDataException($"'{path}' is not an image index (no '{key}' in its metadata); write one with medclip-train index.");
        if (Meta("format") != Format || !file.Tensors.TryGetValue("image_embeds", out var tensor) || tensor.Shape.Length != 2)
            throw new InvalidDataException($"'{path}' is not an image index of format {Format}; write one with medclip-train index.");
        List<string>? paths;
        try
        {
            paths = JsonSerializer.Deserialize<List<string>>(Meta("paths"));
        }
        catch (JsonException)
        {
            paths = null;
        }
        if (paths is null || paths.Count != tensor.Shape[0])
            throw new InvalidDataException($"Index '{path}' is damaged: its path list does not match its {tensor.Shape[0]} embeddings; rebuild it with medclip-train index.");
        var embeddings = new EmbeddingMatrix(tensor.ToFloat32(), (int)tensor.Shape[0], (int)tensor.Shape[1]);
        return new ImageIndex(Path.GetFullPath(path), embeddings, paths, Meta("root"), Meta("checkpoint"), Meta("checkpoint_sha256"), Meta("preprocessing"));
    }

    /// <summary>Refuses a checkpoint other than the one whose embeddings the index holds (its weights' SHA-256 differ).</summary>
    public void RequireCheckpoint(string checkpoint)
    {
        if (EvaluationHashes.Checkpoint(checkpoint) != CheckpointSha256)
            throw new InvalidDataException($"Index '{Source}' was made by another checkpoint ({Checkpoint}) than '{checkpoint}'; " +
                $"rebuild it with medclip-train index --checkpoint {checkpoint}.");
    }

    /// <summary>The <paramref name="k"/> indexed images most similar to an L2-normalised query, best first.</summary>
    public IReadOnlyList<SearchHit> Search(ReadOnlySpan<float> query, int k) =>
        TopK(Embeddings, query, k).Select(h => new SearchHit(h.Row, Paths[h.Row], h.Score)).ToList();

    /// <summary>
    /// Scores = E q (one matrix-vector product, rows split across cores), then the k best by a bounded min-heap.
    /// Ties keep the lower row first.
    /// </summary>
    public static (int Row, float Score)[] TopK(EmbeddingMatrix embeddings, ReadOnlySpan<float> query, int k)
    {
        if (query.Length != embeddings.Dimension)
            throw new ArgumentException($"The query has {query.Length} dimensions but the index {embeddings.Dimension}; it was made by another model.");
        var scores = new float[embeddings.Count];
        var q = query.ToArray();
        int chunks = Math.Max(1, Math.Min(Environment.ProcessorCount, embeddings.Count / 4096));
        Parallel.For(0, chunks, c =>
        {
            int start = (int)((long)embeddings.Count * c / chunks), end = (int)((long)embeddings.Count * (c + 1) / chunks);
            for (int i = start; i < end; i++) scores[i] = System.Numerics.Tensors.TensorPrimitives.Dot(embeddings.Row(i), q);
        });
        k = Math.Min(k, embeddings.Count);
        var heap = new PriorityQueue<int, (float Score, int Negated)>(k + 1);
        float worst = float.NegativeInfinity; // the k-th best score once the heap is full; a later row must beat it
        for (int i = 0; i < scores.Length && k > 0; i++)
        {
            if (heap.Count == k && !(scores[i] > worst)) continue;
            if (heap.Count < k) heap.Enqueue(i, (scores[i], -i));
            else heap.EnqueueDequeue(i, (scores[i], -i));
            if (heap.Count == k) worst = heap.TryPeek(out _, out var min) ? min.Score : worst;
        }
        var best = new (int, float)[heap.Count];
        for (int i = best.Length - 1; i >= 0; i--)
        {
            int row = heap.Dequeue();
            best[i] = (row, scores[row]);
        }
        return best;
    }
}
