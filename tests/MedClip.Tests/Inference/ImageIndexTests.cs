using MedClip.Data.Loading;
using MedClip.Evaluation;
using MedClip.Inference;
using MedClip.Tests.Evaluation;
using MedClip.Training;

namespace MedClip.Tests.Inference;

public sealed class ImageIndexTests(TrainedCheckpointFixture fixture) : IClassFixture<TrainedCheckpointFixture>
{
    private string ImagesDir => Path.Combine(fixture.Run, "synthetic-data", "files");

    [Fact]
    public void Index_RoundTrips_AndAnImageFindsItselfFirst()
    {
        var index = ImageIndex.Build(fixture.Model, fixture.Checkpoint, ImagesDir, new SkipCounter());
        string path = Path.Combine(fixture.Run, "index.safetensors");
        index.Write(path);
        var read = ImageIndex.Read(path);
        Assert.Equal(index.Paths, read.Paths);
        Assert.Equal(index.Embeddings.Data, read.Embeddings.Data);
        Assert.Equal(EvaluationHashes.Checkpoint(fixture.Checkpoint), read.CheckpointSha256);
        Assert.Contains("\"image_size\":64", read.Preprocessing);
        Assert.All(read.Paths, p => Assert.False(Path.IsPathRooted(p)));
        read.RequireCheckpoint(fixture.Checkpoint);

        string third = Path.Combine(read.Root, read.Paths[2]);
        var hits = read.Search(QueryEmbedding.OfImage(fixture.Model, third), 5);
        Assert.Equal(read.Paths[2], hits[0].Path);
        Assert.Equal(1f, hits[0].Score, 4);
        Assert.Equal(5, hits.Count);
        Assert.True(hits.Zip(hits.Skip(1)).All(h => h.First.Score >= h.Second.Score));
    }

    [Fact]
    public void TopK_MatchesAFullSort()
    {
        var random = new Random(3);
        var data = Enumerable.Range(0, 9000 * 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var query = Enumerable.Range(0, 16).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
        var matrix = new EmbeddingMatrix(data, 9000, 16);
        var expected = Enumerable.Range(0, 9000).Select(i => (Row: i, Score: System.Numerics.Tensors.TensorPrimitives.Dot(matrix.Row(i), query)))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Row).Take(7).ToArray();
        Assert.Equal(expected, ImageIndex.TopK(matrix, query, 7));
        Assert.Equal(9000, ImageIndex.TopK(matrix, query, 100_000).Length);
    }

    [Fact]
    public void AnIndexOfAnotherCheckpoint_IsRefusedInOneSentence()
    {
        var index = ImageIndex.Build(fixture.Model, fixture.Checkpoint, ImagesDir, new SkipCounter());
        string other = Path.Combine(fixture.Run, "other-checkpoint");
        Directory.CreateDirectory(other);
        var weights = File.ReadAllBytes(Path.Combine(fixture.Checkpoint, CheckpointStore.WeightsFile));
        weights[^1] ^= 1;
        File.WriteAllBytes(Path.Combine(other, CheckpointStore.WeightsFile), weights);
        var e = Assert.Throws<InvalidDataException>(() => index.RequireCheckpoint(other));
        Assert.Contains("was made by another checkpoint", e.Message);
        Assert.Contains("medclip-train index --checkpoint", e.Message);
    }

    [Fact]
    public void AFileThatIsNotAnIndex_IsRefused()
    {
        var e = Assert.Throws<InvalidDataException>(() => ImageIndex.Read(Path.Combine(fixture.Checkpoint, CheckpointStore.WeightsFile)));
        Assert.Contains("is not an image index", e.Message);
        Assert.Throws<FileNotFoundException>(() => ImageIndex.Read(Path.Combine(fixture.Run, "missing.safetensors")));
    }
}
