using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using MedClip.Data.Images;
using MedClip.Data.Text;
using MedClip.IO;

namespace MedClip.Data.Shards;

/// <summary>What one prep run did.</summary>
public sealed record PrepResult(LoadSummary Summary, int Shards, int ShardsReused, int ImagesDecoded, TimeSpan Elapsed, string ContentHash)
{
    /// <summary>Images decoded per second in this run (reused shards excluded).</summary>
    public double ImagesPerSecond => ImagesDecoded / Math.Max(Elapsed.TotalSeconds, 1e-9);
}

/// <summary>
/// prep: reads a dataset once, decodes, pads to square and resizes every image to uint8 luminance, and stores them in
/// shards of <c>shardSize</c> inputs (<see cref="ShardSet"/>) with the training text, its token ids and the labels of
/// the samples kept. The tokenizer's vocab.txt and tokenizer_config.json are written beside the shards, and training
/// from them uses that vocabulary and the stored ids unless a pretrained text encoder brings its own.
/// <list type="bullet">
/// <item>Parallel: shards are prepared concurrently, one per core, each in input order.</item>
/// <item>Resumable: a shard whose record exists, names the same inputs (by a hash of their paths and texts) and whose
/// images file matches its recorded SHA-256 is kept; any other is redone. Files are written to a temporary name,
/// flushed and renamed, the record last, so an interrupted run leaves no shard that looks complete but is not.</item>
/// <item>Bad images are skipped and counted by reason in the shard's record and the manifest's summary.</item>
/// </list>
/// </summary>
public static class DatasetPrep
{
    public const int DefaultShardSize = 1000;

    public static PrepResult Run(LoadedDataset data, string source, string output, int imageSize, ReportTokenizer tokenizer,
        int shardSize = DefaultShardSize, int? workers = null, Action<string>? log = null, IProgress<WorkProgress>? progress = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(imageSize, 8);
        ArgumentOutOfRangeException.ThrowIfLessThan(shardSize, 1);
        Directory.CreateDirectory(output);
        foreach (string stale in Directory.EnumerateFiles(output, "*.tmp"))
            File.Delete(stale);

        var clock = Stopwatch.StartNew();
        tokenizer.Save(output);
        string vocabularyHash = FileHash.Sha256(Path.Combine(output, ReportTokenizer.VocabularyFileName));
        List<ImageTextSample> inputs = [.. data.Train, .. data.Validation, .. data.Test];
        int shards = Math.Max(1, (inputs.Count + shardSize - 1) / shardSize);
        var images = new ImagePreprocessor(imageSize, [0f, 0f, 0f], [1f, 1f, 1f]);
        var records = new JsonObject[shards];
        int reused = 0, decoded = 0, done = 0;
        Parallel.For(0, shards, new ParallelOptions { MaxDegreeOfParallelism = workers ?? Environment.ProcessorCount }, shard =>
        {
            List<ImageTextSample> chunk = inputs.GetRange(shard * shardSize, Math.Min(shardSize, inputs.Count - shard * shardSize));
            string inputsHash = InputsHash(chunk, vocabularyHash, tokenizer.LowerCase);
            JsonObject? record = TryReuse(output, shard, imageSize, inputsHash);
            if (record is not null)
            {
                Interlocked.Increment(ref reused);
            }
            else
            {
                record = Write(output, shard, chunk, images, tokenizer, inputsHash);
                Interlocked.Add(ref decoded, chunk.Count);
            }
            records[shard] = record;
            int finished = Interlocked.Increment(ref done);
            progress?.Report(new WorkProgress("preparing shards", finished, shards));
            log?.Invoke($"shard {finished}/{shards} ({decoded} images decoded, {decoded / Math.Max(clock.Elapsed.TotalSeconds, 1e-9):F1} images/s)");
        });

        var summary = LoadSummary.FromJson(data.Summary.ToJson());
        foreach (JsonObject record in records)
            foreach ((string reason, JsonNode? count) in record["skipped"]!.AsObject())
                summary.Reject(reason, count!.GetValue<long>());
        string contentHash = ContentHash(output, shards);
        clock.Stop();
        var result = new PrepResult(summary, shards, reused, decoded, clock.Elapsed, contentHash);
        var manifest = new JsonObject
        {
            ["format"] = ShardSet.Format,
            ["source"] = source,
            ["image_size"] = imageSize,
            ["shard_size"] = shardSize,
            ["vocab"] = ReportTokenizer.VocabularyFileName,
            ["vocab_sha256"] = vocabularyHash,
            ["do_lower_case"] = tokenizer.LowerCase,
            ["summary"] = summary.ToJson(),
            ["splits"] = new JsonObject(records.SelectMany(r => r["samples"]!.AsArray()).GroupBy(s => s!["split"]!.GetValue<string>())
                .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => KeyValuePair.Create(g.Key, (JsonNode?)g.Count()))),
            ["shards"] = new JsonArray([.. Enumerable.Range(0, shards).Select(s => (JsonNode)new JsonObject
            {
                ["record"] = ShardSet.RecordFile(s),
                ["images"] = records[s]["images_file"]!.GetValue<string>(),
                ["count"] = records[s]["samples"]!.AsArray().Count,
            })]),
            ["content_sha256"] = contentHash,
            ["seconds"] = Math.Round(result.Elapsed.TotalSeconds, 3),
            ["images_decoded"] = decoded,
            ["images_per_second"] = Math.Round(result.ImagesPerSecond, 1),
        };
        WriteAtomically(Path.Combine(output, ShardSet.ManifestFile), Encoding.UTF8.GetBytes(manifest.ToJsonString(ShardSet.Indented)));
        summary.Save(output);
        return result;
    }

    /// <summary>Decodes a chunk's images into a new shard and returns its record.</summary>
    private static JsonObject Write(string output, int shard, List<ImageTextSample> chunk, ImagePreprocessor images, ReportTokenizer tokenizer,
        string inputsHash)
    {
        int side = images.Size, pixels = side * side;
        var luminance = new float[pixels];
        var bytes = new byte[pixels];
        var kept = new JsonArray();
        var skipped = new SortedDictionary<string, long>(StringComparer.Ordinal);
        string imagesName = ShardSet.ImagesFile(shard);
        string imagesPath = Path.Combine(output, imagesName);
        string temporary = imagesPath + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.ReadWrite, FileShare.None, 1 << 16))
        {
            ShardImageFile.WriteHeader(file, side, 0);
            foreach (ImageTextSample sample in chunk)
            {
                try
                {
                    images.LoadLuminance(sample.ImagePath, luminance);
                }
                catch (ImageRejectedException e)
                {
                    skipped[e.Reason] = skipped.GetValueOrDefault(e.Reason) + 1;
                    continue;
                }
                for (int i = 0; i < pixels; i++)
                    bytes[i] = (byte)MathF.Round(Math.Clamp(luminance[i], 0f, 1f) * 255f);
                file.Write(bytes);
                kept.Add((JsonNode)ShardSet.SampleToJson(sample, kept.Count, tokenizer.TokenIds(sample.Text)));
            }
            file.Position = 0;
            ShardImageFile.WriteHeader(file, side, kept.Count);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, imagesPath, overwrite: true);
        var record = new JsonObject
        {
            ["images_file"] = imagesName,
            ["images_sha256"] = FileHash.Sha256(imagesPath),
            ["image_size"] = side,
            ["inputs"] = chunk.Count,
            ["inputs_sha256"] = inputsHash,
            ["skipped"] = new JsonObject(skipped.Select(pair => KeyValuePair.Create(pair.Key, (JsonNode?)pair.Value))),
            ["samples"] = kept,
        };
        WriteAtomically(Path.Combine(output, ShardSet.RecordFile(shard)), Encoding.UTF8.GetBytes(record.ToJsonString(ShardSet.Indented)));
        return record;
    }

    /// <summary>The shard's record when the shard is complete, made from the same inputs at the same size, and intact; else null.</summary>
    private static JsonObject? TryReuse(string output, int shard, int imageSize, string inputsHash)
    {
        string recordPath = Path.Combine(output, ShardSet.RecordFile(shard));
        if (!File.Exists(recordPath))
            return null;
        JsonObject record;
        try
        {
            record = ShardSet.ParseJson(recordPath).AsObject();
        }
        catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
        {
            return null;
        }
        string imagesPath = Path.Combine(output, ShardSet.ImagesFile(shard));
        bool same = record["inputs_sha256"]?.GetValue<string>() == inputsHash && record["image_size"]?.GetValue<int>() == imageSize;
        return same && File.Exists(imagesPath) && FileHash.Sha256(imagesPath) == record["images_sha256"]?.GetValue<string>() ? record : null;
    }

    // The shard's inputs and the tokenizer its ids come from: a different vocabulary or casing redoes the shard.
    private static string InputsHash(List<ImageTextSample> chunk, string vocabularyHash, bool lowerCase)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{vocabularyHash} lower={lowerCase}"));
        hash.AppendData([0]);
        foreach (ImageTextSample sample in chunk)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(sample.ImagePath));
            hash.AppendData([0]);
            hash.AppendData(Encoding.UTF8.GetBytes(sample.Text));
            hash.AppendData([0]);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>SHA-256 over the shard records in order; each record holds its images' SHA-256, so this covers the images too.</summary>
    private static string ContentHash(string output, int shards)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int shard = 0; shard < shards; shard++)
            hash.AppendData(File.ReadAllBytes(Path.Combine(output, ShardSet.RecordFile(shard))));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static void WriteAtomically(string path, byte[] content)
    {
        string temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(content);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }
}
