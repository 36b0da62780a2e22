using MedClip.Autograd;
using MedClip.Backends.Cpu;
using MedClip.Data.Text;
using MedClip.IO;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using Xunit.Abstractions;

namespace MedClip.Tests.Models;

/// <summary>
/// Pretrained towers loaded from the Hugging Face folders of tools/reference/make_pretrained_fixtures.py against the
/// float64 PyTorch reference outputs: max|ours - ref| / max|ref| below 1e-5 in float32 on the CPU, from
/// model.safetensors and from pytorch_model.bin (zip for ViT, legacy for CLIP and BERT).
/// </summary>
public sealed class PretrainedTowerTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 1e-5;
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Pretrained");
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-pretrained-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Init Init => new(CpuBackend.Instance, DType.F32, 0);

    [Theory]
    [InlineData("vit", PretrainedTowers.SafetensorsWeights)]
    [InlineData("vit", PretrainedTowers.PyTorchWeights)]
    [InlineData("clip", PretrainedTowers.SafetensorsWeights)]
    [InlineData("clip", PretrainedTowers.PyTorchWeights)]
    public void VisionTower_MatchesTheReference(string family, string weights)
    {
        string folder = FolderWith(family, weights);
        var pretrained = PretrainedTowers.ReadVision(folder);
        var tower = IVisionTower.Create(Init, pretrained.Config);

        var notices = PretrainedTowers.LoadVision((IVisionTower)tower, pretrained.Config, folder);

        Assert.Empty(notices);
        using var reference = SafetensorsFile.Read(Path.Combine(Fixtures, $"{family}_reference.safetensors"));
        using var noGrad = GradMode.Disable();
        var (last, pooled) = ((IVisionTower)tower).Encode(Input(reference, "pixel_values"));
        AssertClose(reference, "last_hidden_state", last, $"{family} {weights}");
        AssertClose(reference, "pooler_output", pooled, $"{family} {weights}");
    }

    [Theory]
    [InlineData(PretrainedTowers.SafetensorsWeights)]
    [InlineData(PretrainedTowers.PyTorchWeights)]
    public void Bert_MatchesTheReference(string weights)
    {
        string folder = FolderWith("bert", weights);
        var bert = new Bert(Init, PretrainedTowers.ReadText(folder));

        var notices = PretrainedTowers.LoadText(bert, folder);

        Assert.Empty(notices);
        using var reference = SafetensorsFile.Read(Path.Combine(Fixtures, "bert_reference.safetensors"));
        using var noGrad = GradMode.Disable();
        var (last, pooled) = bert.Encode(Input(reference, "input_ids"), Input(reference, "attention_mask"));
        AssertClose(reference, "last_hidden_state", last, $"bert {weights}");
        AssertClose(reference, "pooler_output", pooled, $"bert {weights}");
    }

    [Fact]
    public void DualEncoder_WithPretrainedTowers_MatchesTheReferenceEmbeddings()
    {
        var vision = PretrainedTowers.ReadVision(Path.Combine(Fixtures, "vit"));
        var text = PretrainedTowers.ReadText(Path.Combine(Fixtures, "bert"));
        var model = new DualEncoder(Init, new DualEncoderConfig(vision.Config, text, ProjectionDim: 8));
        PretrainedTowers.LoadVision(model.Vision, vision.Config, Path.Combine(Fixtures, "vit"));
        PretrainedTowers.LoadText(model.Text, Path.Combine(Fixtures, "bert"));
        using var reference = SafetensorsFile.Read(Path.Combine(Fixtures, "dual_encoder_reference.safetensors"));
        ModuleWeights.CopyInto(reference["visual_projection.weight"], model.VisualProjection.Weight);
        ModuleWeights.CopyInto(reference["text_projection.weight"], model.TextProjection.Weight);
        using var vitReference = SafetensorsFile.Read(Path.Combine(Fixtures, "vit_reference.safetensors"));
        using var bertReference = SafetensorsFile.Read(Path.Combine(Fixtures, "bert_reference.safetensors"));

        using var noGrad = GradMode.Disable();
        AssertClose(reference, "image_embeds", model.EncodeImages(Input(vitReference, "pixel_values")), "dual encoder");
        AssertClose(reference, "text_embeds", model.EncodeTexts(Input(bertReference, "input_ids"), Input(bertReference, "attention_mask")), "dual encoder");
    }

    [Fact]
    public void Vit_WithPrefixAndClassifierAndNoPooler_LoadsAndReportsThePooler()
    {
        // ViTForImageClassification's layout: every name under "vit.", a classifier head, no pooler.
        string folder = CopyOf("vit", PretrainedTowers.SafetensorsWeights, tensors => tensors
            .Where(t => !t.Name.StartsWith("pooler.", StringComparison.Ordinal))
            .Select(t => Renamed(t, "vit." + t.Name))
            .Append(SafetensorsTensor.FromFloat32("classifier.weight", [2, 16], new float[32])));
        var pretrained = PretrainedTowers.ReadVision(folder);
        var tower = new VisionTransformer(Init, pretrained.Config);

        var notices = PretrainedTowers.LoadVision(tower, pretrained.Config, folder);

        string notice = Assert.Single(notices);
        Assert.Contains("pooler.dense.weight", notice);
        Assert.Contains("freshly initialised", notice);
        using var reference = SafetensorsFile.Read(Path.Combine(Fixtures, "vit_reference.safetensors"));
        using var noGrad = GradMode.Disable();
        AssertClose(reference, "last_hidden_state", tower.Encode(Input(reference, "pixel_values")).LastHiddenState, "vit. prefix");
    }

    [Fact]
    public void ClipVisionModel_WithoutTheTextHalf_Loads()
    {
        string folder = CopyOf("clip", PretrainedTowers.SafetensorsWeights,
            tensors => tensors.Where(t => t.Name.StartsWith("vision_model.", StringComparison.Ordinal)));
        string config = Path.Combine(folder, PretrainedTowers.ConfigFile);
        var clip = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(config))!;
        var vision = clip["vision_config"]!.DeepClone();
        vision["model_type"] = "clip_vision_model";
        File.WriteAllText(config, vision.ToJsonString());
        var pretrained = PretrainedTowers.ReadVision(folder);
        var tower = new ClipVisionTransformer(Init, pretrained.Config);

        PretrainedTowers.LoadVision(tower, pretrained.Config, folder);

        using var reference = SafetensorsFile.Read(Path.Combine(Fixtures, "clip_reference.safetensors"));
        using var noGrad = GradMode.Disable();
        AssertClose(reference, "pooler_output", tower.Encode(Input(reference, "pixel_values")).PoolerOutput, "clip_vision_model");
    }

    [Theory]
    [InlineData(SafetensorsDType.F16)]
    [InlineData(SafetensorsDType.BF16)]
    public void Bert_FromHalfPrecisionWeights_LoadsIntoFloat32(string dtype)
    {
        string folder = CopyOf("bert", PretrainedTowers.SafetensorsWeights, tensors => tensors.Select(t => ToHalf(t, dtype)));
        var bert = new Bert(Init, PretrainedTowers.ReadText(folder));

        PretrainedTowers.LoadText(bert, folder);

        using var reference = SafetensorsFile.Read(Path.Combine(Fixtures, "bert_reference.safetensors"));
        using var noGrad = GradMode.Disable();
        var pooled = bert.Encode(Input(reference, "input_ids"), Input(reference, "attention_mask")).PoolerOutput;
        // The weights are rounded to 11 (F16) or 8 (BF16) significant bits, so the outputs match only to that precision.
        AssertClose(reference, "pooler_output", pooled, $"bert {dtype}", dtype == SafetensorsDType.F16 ? 1e-2 : 5e-2);
    }

    [Fact]
    public void ConfigValues_ComeFromTheFolders()
    {
        var clip = PretrainedTowers.ReadVision(Path.Combine(Fixtures, "clip"));
        var text = PretrainedTowers.ReadText(Path.Combine(Fixtures, "bert"));

        Assert.Equal(VisionModelType.ClipVision, clip.Config.ModelType);
        Assert.Equal(MedClip.Backends.Activation.QuickGelu, clip.Config.Transformer.Activation);
        Assert.Equal(1e-5, clip.Config.Transformer.LayerNormEps);
        Assert.Equal((32, 8, 40, 4), (clip.Config.ImageSize, clip.Config.PatchSize, clip.Config.Transformer.IntermediateSize, clip.Config.Transformer.Heads));
        Assert.Equal(0.48145466f, clip.Preprocessor.ImageMean[0]);
        Assert.Equal(0.26862954f, clip.Preprocessor.ImageStd[0]);
        Assert.Equal(32, clip.Preprocessor.ImageSize);
        Assert.Equal((30, 12, 2, 24), (text.VocabSize, text.MaxPositions, text.TypeVocabSize, text.Transformer.IntermediateSize));

        var tokenizer = ReportTokenizer.FromFolder(Path.Combine(Fixtures, "bert"));
        Assert.False(tokenizer.LowerCase);
        Assert.Equal(13, tokenizer.TokenIds("Lung")[0]);
    }

    [Fact]
    public void WrongModelType_IsOneErrorNamingTheFileAndTheType()
    {
        string folder = CopyOf("bert", PretrainedTowers.SafetensorsWeights, t => t);
        string config = Path.Combine(folder, PretrainedTowers.ConfigFile);
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"bert\"", "\"roberta\""));

        var text = Assert.Throws<InvalidDataException>(() => PretrainedTowers.ReadText(folder));
        var image = Assert.Throws<InvalidDataException>(() => PretrainedTowers.ReadVision(folder));

        Assert.Contains($"'{config}'", text.Message);
        Assert.Contains("model_type 'roberta'", text.Message);
        Assert.Contains("model_type 'roberta'", image.Message);
    }

    [Fact]
    public void MissingUnexpectedAndMisshapenTensors_AreListedInOneError()
    {
        string folder = CopyOf("bert", PretrainedTowers.SafetensorsWeights, tensors => tensors
            .Where(t => t.Name != "encoder.layer.1.output.dense.bias")
            .Select(t => t.Name == "embeddings.word_embeddings.weight" ? SafetensorsTensor.FromFloat32(t.Name, [31, 16], new float[31 * 16]) : t)
            .Append(SafetensorsTensor.FromFloat32("encoder.layer.2.output.dense.bias", [16], new float[16])));
        var bert = new Bert(Init, PretrainedTowers.ReadText(folder));

        var error = Assert.Throws<InvalidDataException>(() => PretrainedTowers.LoadText(bert, folder));

        Assert.Contains("missing encoder.layer.1.output.dense.bias", error.Message);
        Assert.Contains("unexpected encoder.layer.2.output.dense.bias", error.Message);
        Assert.Contains("shape mismatch embeddings.word_embeddings.weight (file [31, 16], model [30, 16])", error.Message);
        Assert.Contains(Path.Combine(folder, PretrainedTowers.SafetensorsWeights), error.Message);
    }

    /// <summary>A copy of the fixture folder keeping only the given weights file.</summary>
    private string FolderWith(string family, string weights)
    {
        string folder = Path.Combine(_dir, $"{family}-{Path.GetExtension(weights).TrimStart('.')}");
        Directory.CreateDirectory(folder);
        foreach (string file in Directory.GetFiles(Path.Combine(Fixtures, family)))
        {
            string name = Path.GetFileName(file);
            if (name is PretrainedTowers.SafetensorsWeights or PretrainedTowers.PyTorchWeights && name != weights) continue;
            File.Copy(file, Path.Combine(folder, name));
        }
        return folder;
    }

    /// <summary>A copy of the fixture folder whose model.safetensors holds <paramref name="edit"/>'s tensors.</summary>
    private string CopyOf(string family, string weights, Func<IEnumerable<SafetensorsTensor>, IEnumerable<SafetensorsTensor>> edit)
    {
        string folder = FolderWith(family, weights);
        string path = Path.Combine(folder, PretrainedTowers.SafetensorsWeights);
        List<SafetensorsTensor> tensors;
        using (var file = SafetensorsFile.Read(path))
            tensors = edit(file.Tensors.Values.Select(t => new SafetensorsTensor(t.Name, t.DType, t.Shape, t.Data.ToArray()))).ToList();
        SafetensorsFile.Write(path, tensors);
        return folder;
    }

    private static SafetensorsTensor ToHalf(SafetensorsTensor t, string dtype)
    {
        float[] values = t.ToFloat32();
        ushort[] bits = dtype == SafetensorsDType.F16
            ? values.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray()
            : values.Select(v => (ushort)((BitConverter.SingleToUInt32Bits(v) + 0x8000) >> 16)).ToArray();
        return new SafetensorsTensor(t.Name, dtype, t.Shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes<ushort>(bits).ToArray());
    }

    private static SafetensorsTensor Renamed(SafetensorsTensor t, string name) => new(name, t.DType, t.Shape, t.Data);

    private static Tensor Input(SafetensorsFile f, string name)
    {
        var stored = f[name];
        Shape shape = stored.Shape.Select(d => checked((int)d)).ToArray();
        return stored.DType == SafetensorsDType.I32
            ? Tensor.FromArray(CpuBackend.Instance, shape, stored.ToInt32())
            : Tensor.FromArray(CpuBackend.Instance, shape, stored.ToFloat32());
    }

    private void AssertClose(SafetensorsFile f, string name, Tensor actual, string what, double tolerance = Tolerance)
    {
        var stored = f[name];
        Assert.Equal(stored.Shape.Select(d => (int)d), actual.Shape.ToArray());
        float[] expected = stored.ToFloat32(), ours = actual.ToArray<float>();
        double maxDiff = expected.Zip(ours, (e, o) => Math.Abs((double)e - o)).Max();
        double relative = maxDiff / expected.Max(e => Math.Abs((double)e));
        output.WriteLine($"{what} {name}: max|ours - ref| / max|ref| = {relative:E2}");
        Assert.True(relative < tolerance, $"{what} {name}: relative error {relative:E2} is not below {tolerance:E0}.");
    }
}
