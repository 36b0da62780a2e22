using System.Text.Json.Nodes;
using MedClip.Backends.Cpu;
using MedClip.Data.Loading;
using MedClip.Data.Text;
using MedClip.IO;
using MedClip.Models;
using MedClip.Training;

namespace MedClip.Tests.Models;

/// <summary>
/// A Hugging Face CLIPModel folder through the shared loading path (<see cref="CheckpointModel.Load"/>, what eval and
/// embed call): the embeddings of tools/reference/make_clip_model_fixture.py's random CLIPModel, computed by a PyTorch
/// forward written from transformers' modelling code, to 1e-5; pytorch_model.bin instead of model.safetensors; the
/// CLIPModel layout written back; and one sentence naming the file for each way a folder can be wrong.
/// </summary>
public sealed class ClipModelFolderTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Clip");
    private static readonly string ModelFolder = Path.Combine(Fixtures, "model");
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-clipmodel-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Embed_ImagesAndTexts_MatchTorchReference() => AssertEmbeddingsMatch(ModelFolder);

    [Fact]
    public void PytorchModelBin_LoadsTheSameWeights()
    {
        string folder = CopyOf(ModelFolder, except: "model.safetensors");
        File.Copy(Path.Combine(Fixtures, "pytorch_model.bin"), Path.Combine(folder, "pytorch_model.bin"));
        AssertEmbeddingsMatch(folder);
    }

    [Fact]
    public void SavedCheckpoint_KeepsClipModelNamesConfigAndTokenizer()
    {
        var model = CheckpointModel.Load(ModelFolder, CpuBackend.Instance);
        string saved = Path.Combine(_dir, "saved");
        Directory.CreateDirectory(saved);
        DualEncoderConfigJson.Write(Path.Combine(saved, "config.json"), model.Model.Config, model.ContextLength);
        CheckpointWeights.Save(model.Model, Path.Combine(saved, "model.safetensors"));
        model.Tokenizer.Save(saved);
        File.Copy(Path.Combine(ModelFolder, "preprocessor_config.json"), Path.Combine(saved, "preprocessor_config.json"));

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(saved, "config.json")))!;
        Assert.Equal("clip", (string?)config["model_type"]);
        Assert.Equal("clip_text_model", (string?)config["text_config"]!["model_type"]);
        Assert.Equal(913, (int)config["text_config"]!["eos_token_id"]!);
        using (var file = SafetensorsFile.Read(Path.Combine(saved, "model.safetensors")))
        using (var original = SafetensorsFile.Read(Path.Combine(ModelFolder, "model.safetensors")))
        {
            var expected = original.Tensors.Keys.Where(n => !n.EndsWith("position_ids")).Order();
            Assert.Equal(expected, file.Tensors.Keys.Order());
        }
        AssertEmbeddingsMatch(saved);
    }

    [Fact]
    public void MissingMergesFile_IsOneSentenceNamingIt()
    {
        string folder = CopyOf(ModelFolder, except: "merges.txt");
        var e = Assert.Throws<InvalidDataException>(() => CheckpointModel.Load(folder, CpuBackend.Instance));
        Assert.Contains("merges.txt", e.Message);
        Assert.Contains(folder, e.Message);
    }

    [Fact]
    public void MismatchedShape_NamesTheFileAndTheTensor()
    {
        string folder = CopyOf(ModelFolder, except: "config.json");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(ModelFolder, "config.json")))!;
        config["projection_dim"] = 6;
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => CheckpointModel.Load(folder, CpuBackend.Instance));
        Assert.Contains(Path.Combine(folder, "model.safetensors"), e.Message);
        Assert.Contains("visual_projection.weight", e.Message);
    }

    [Fact]
    public void UnknownModelType_IsOneSentenceNamingTheConfig()
    {
        string folder = CopyOf(ModelFolder, except: "config.json");
        File.WriteAllText(Path.Combine(folder, "config.json"), """{"model_type": "siglip"}""");
        var e = Assert.Throws<InvalidDataException>(() => CheckpointModel.Load(folder, CpuBackend.Instance));
        Assert.Contains(Path.Combine(folder, "config.json"), e.Message);
        Assert.Contains("siglip", e.Message);
    }

    [Fact]
    public void UntrainedClipFolder_StartingPointIsClip() =>
        Assert.StartsWith("CLIP", StartingPoint.ForCheckpoint(ModelFolder));

    private static void AssertEmbeddingsMatch(string folder)
    {
        var model = CheckpointModel.Load(folder, CpuBackend.Instance);
        Assert.IsType<ClipTokenizer>(model.Tokenizer);
        Assert.IsType<ClipTextTransformer>(model.Model.Text);
        using var expected = SafetensorsFile.Read(Path.Combine(Fixtures, "clip_embeddings.safetensors"));
        var images = Directory.GetFiles(Path.Combine(Fixtures, "images"), "*.png").Order(StringComparer.Ordinal).ToList();
        var (imageEmbeds, kept) = model.EncodeImages(images, new SkipCounter());
        Assert.Equal(images.Count, kept.Length);
        AssertClose(expected["image_embeds"].ToFloat32(), imageEmbeds.Data, "image_embeds");
        var texts = File.ReadAllLines(Path.Combine(Fixtures, "clip_texts.txt"));
        AssertClose(expected["text_embeds"].ToFloat32(), model.EncodeTexts(texts).Data, "text_embeds");
    }

    // Relative to the largest element: the embeddings are unit rows, so this is the error per unit length.
    private static void AssertClose(float[] expected, float[] actual, string name)
    {
        Assert.Equal(expected.Length, actual.Length);
        double worst = expected.Zip(actual, (e, a) => Math.Abs(e - (double)a)).Max() / expected.Max(e => Math.Abs((double)e));
        Assert.True(worst <= 1e-5, $"{name}: relative error {worst:E2}");
    }

    private string CopyOf(string folder, string except)
    {
        string copy = Path.Combine(_dir, "copy");
        Directory.CreateDirectory(copy);
        foreach (string file in Directory.GetFiles(folder).Where(f => Path.GetFileName(f) != except))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }
}
