using System.Text.Json.Nodes;
using MedClip.Data;
using MedClip.Data.Images;
using MedClip.Data.Loading;
using MedClip.Data.Shards;
using MedClip.Data.Synthetic;
using MedClip.Data.Text;
using MedClip.Tests.Data.Images;

namespace MedClip.Tests.Data.Shards;

/// <summary>prep on a 12-study synthetic set at 32 px with a few bad images, into shards of 5 inputs.</summary>
public sealed class DatasetPrepTests : IDisposable
{
    private const int Studies = 12;
    private const int Size = 32;
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-prep-").FullName;
    private readonly string _source;
    private readonly string _shards;
    private readonly LoadedDataset _data;

    public DatasetPrepTests()
    {
        _source = Path.Combine(_dir, "mimic");
        _shards = Path.Combine(_dir, "shards");
        SyntheticChestXrayGenerator.Generate(_source, Studies, Size, seed: 3);
        _data = DatasetSpec.Parse("mimic:" + _source).Load(_dir, Size, seed: 0);
        List<ImageTextSample> all = [.. _data.Train, .. _data.Validation, .. _data.Test];
        // A truncated JPEG, a zero-byte file, and a PNG under a .jpg name (decoded by its content, so kept).
        byte[] jpeg = File.ReadAllBytes(all[1].ImagePath);
        File.WriteAllBytes(all[1].ImagePath, jpeg[..(jpeg.Length / 2)]);
        File.WriteAllBytes(all[2].ImagePath, []);
        TestImages.WriteGrayPng(all[3].ImagePath + ".png", 40, 28, (x, y) => (byte)(x * 6));
        File.Move(all[3].ImagePath + ".png", all[3].ImagePath, overwrite: true);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private PrepResult Prep() => DatasetPrep.Run(_data, "mimic:" + _source, _shards, Size, Tokenizer(), shardSize: 5, workers: 2);

    [Fact]
    public void Prep_StoresKeptImagesAndCountsBadOnes_AndShardsReadBackAsTheDataset()
    {
        PrepResult result = Prep();

        Assert.Equal(3, result.Shards);
        Assert.Equal(0, result.ShardsReused);
        Assert.Equal(Studies, result.ImagesDecoded);
        Assert.Equal(Studies - 2, result.Summary.Kept);
        Assert.Equal(1, result.Summary.Skipped[ImageRejectedException.CorruptImage]);
        Assert.Equal(1, result.Summary.Skipped[ImageRejectedException.EmptyFile]);
        JsonNode manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(_shards, ShardSet.ManifestFile)))!;
        Assert.Equal(result.ContentHash, manifest["content_sha256"]!.GetValue<string>());
        Assert.Equal(Studies - 2, manifest["summary"]!["kept"]!.GetValue<long>());
        Assert.True(File.Exists(Path.Combine(_shards, LoadSummary.FileName)));

        LoadedDataset shards = DatasetSpec.Parse("shards:" + _shards).Load(_dir, Size, seed: 0);
        List<ImageTextSample> original = [.. _data.Train, .. _data.Validation, .. _data.Test];
        List<ImageTextSample> stored = [.. shards.Train, .. shards.Validation, .. shards.Test];
        Assert.Equal(Studies - 2, stored.Count);
        var images = new ImagePreprocessor(Size, [0f, 0f, 0f], [1f, 1f, 1f]);
        var fromFile = new float[Size * Size];
        var fromShard = new float[Size * Size];
        foreach (ImageTextSample sample in stored)
        {
            ImageTextSample source = original.Single(s => s.DicomId == sample.DicomId);
            Assert.Equal((source.Text, source.Split, source.StudyId), (sample.Text, sample.Split, sample.StudyId));
            Assert.Equal(source.Labels.OrderBy(p => p.Key), sample.Labels.OrderBy(p => p.Key));
            images.LoadLuminance(source.ImagePath, fromFile);
            images.LoadLuminance(sample.ImagePath, fromShard);
            for (int i = 0; i < fromFile.Length; i++)
                Assert.True(Math.Abs(fromFile[i] - fromShard[i]) <= 0.5f / 255 + 1e-6f, $"{sample.ImagePath} pixel {i}");
        }

        // Read at another size the stored squares are resized; out-of-range indices are a skip, not a crash.
        var small = new float[16 * 16];
        new ImagePreprocessor(16, [0f, 0f, 0f], [1f, 1f, 1f]).LoadLuminance(stored[0].ImagePath, small);
        Assert.Contains(small, v => v > 0.05f);
        Assert.All(small, v => Assert.InRange(v, 0f, 1f));
        string beyond = ShardImageFile.Reference(Path.Combine(_shards, ShardSet.ImagesFile(0)), 99);
        Assert.Throws<ImageRejectedException>(() => images.LoadLuminance(beyond, fromShard));
    }

    private ReportTokenizer Tokenizer() => new(WordPieceVocabularyBuilder.Build(_data.Train.Select(s => s.Text)));

    [Fact]
    public void Prep_StoresEachTextsTokenIds_WithTheVocabularyTheyIndex()
    {
        ReportTokenizer tokenizer = Tokenizer();
        Prep();

        JsonNode manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(_shards, ShardSet.ManifestFile)))!;
        Assert.Equal(ReportTokenizer.VocabularyFileName, manifest["vocab"]!.GetValue<string>());
        var stored = ReportTokenizer.FromFolder(_shards);
        Assert.Equal(tokenizer.VocabularySize, stored.VocabularySize);
        LoadedDataset shards = DatasetSpec.Parse("shards:" + _shards).Load(_dir, Size, seed: 0);
        Assert.NotNull(shards.Tokens);
        List<ImageTextSample> samples = [.. shards.Train, .. shards.Validation, .. shards.Test];
        Assert.Equal(samples.Count, shards.Tokens.ByImagePath.Count);
        foreach (ImageTextSample sample in samples)
        {
            Assert.True(shards.Tokens.TryGet(sample, out int[] ids));
            Assert.Equal(tokenizer.TokenIds(sample.Text), ids);
            foreach (int context in new[] { 8, 64 }) // truncated and padded
            {
                (int[] textIds, int[] textMask) = tokenizer.Encode(sample.Text, context);
                (int[] storedIds, int[] storedMask) = tokenizer.Encode(ids, context);
                Assert.Equal(textIds, storedIds);
                Assert.Equal(textMask, storedMask);
            }
        }
    }

    [Fact]
    public void Rerun_WithAnotherVocabulary_RedoesEveryShard()
    {
        Prep();
        var other = new ReportTokenizer(WordPieceVocabularyBuilder.Build(["no pleural effusion", "small left effusion"]));

        PrepResult again = DatasetPrep.Run(_data, "mimic:" + _source, _shards, Size, other, shardSize: 5, workers: 2);

        Assert.Equal(0, again.ShardsReused);
        LoadedDataset shards = DatasetSpec.Parse("shards:" + _shards).Load(_dir, Size, seed: 0);
        ImageTextSample first = shards.Train[0];
        Assert.True(shards.Tokens!.TryGet(first, out int[] ids));
        Assert.Equal(other.TokenIds(first.Text), ids);
        Assert.Equal(other.VocabularySize, ReportTokenizer.FromFolder(_shards).VocabularySize);
    }

    [Fact]
    public void Rerun_KeepsVerifiedShards_AndRedoesMissingOrDamagedOnes()
    {
        PrepResult first = Prep();
        File.Delete(Path.Combine(_shards, ShardSet.RecordFile(1)));
        string damaged = Path.Combine(_shards, ShardSet.ImagesFile(2));
        byte[] bytes = File.ReadAllBytes(damaged);
        bytes[^1] ^= 0xFF;
        File.WriteAllBytes(damaged, bytes);
        File.WriteAllText(Path.Combine(_shards, ShardSet.ImagesFile(1) + ".tmp"), "left by an interrupted run");

        PrepResult second = Prep();

        Assert.Equal(1, second.ShardsReused);
        Assert.Equal(Studies - 5, second.ImagesDecoded);
        Assert.Equal(first.ContentHash, second.ContentHash);
        Assert.Equal(first.Summary.ToString(), second.Summary.ToString());
        Assert.Empty(Directory.EnumerateFiles(_shards, "*.tmp"));

        PrepResult third = Prep();
        Assert.Equal(3, third.ShardsReused);
        Assert.Equal(0, third.ImagesDecoded);
    }

    [Fact]
    public void Loader_DeliversAugmentedBatchesFromShards()
    {
        Prep();
        LoadedDataset shards = DatasetSpec.Parse("shards:" + _shards).Load(_dir, Size, seed: 0);

        LoaderBenchmarkResult result = LoaderBenchmark.Run(shards, "shards", Size, batchSize: 2, batches: 3, workers: 2);

        Assert.Equal(6, result.Images);
        Assert.True(result.ImagesPerSecond > 0);
        Assert.Contains("\"images_per_s\"", result.ToJson());
    }
}
