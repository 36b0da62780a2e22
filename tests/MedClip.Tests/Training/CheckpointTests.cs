using MedClip.Backends.Cpu;
using MedClip.IO;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;
using MedClip.Training;

namespace MedClip.Tests.Training;

public sealed class CheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static DualEncoder TinyModel(int seed)
    {
        var preset = ModelPresets.Get("tiny", vocabSize: 50);
        var config = preset.Config with
        {
            Vision = preset.Config.Vision with { Layers = 1 },
            Text = preset.Config.Text with { Layers = 1 },
        };
        return new DualEncoder(new Init(CpuBackend.Instance, DType.F32, seed), config);
    }

    [Fact]
    public void ConfigJson_RoundTripsEveryField()
    {
        var config = ModelPresets.Get("small").Config;
        string path = Path.Combine(_dir, "config.json");
        DualEncoderConfigJson.Write(path, config, contextLength: 77);
        var (read, context) = DualEncoderConfigJson.Read(path);
        Assert.Equal(77, context);
        Assert.Equal(config, read);
        Assert.Contains("\"vision-text-dual-encoder\"", File.ReadAllText(path));
    }

    [Fact]
    public void ConfigJson_ClipVisionTower_RoundTrips()
    {
        var preset = ModelPresets.Get("tiny");
        var config = preset.Config with { Vision = preset.Config.Vision with { ModelType = VisionModelType.ClipVision } };
        string path = Path.Combine(_dir, "clip.json");
        DualEncoderConfigJson.Write(path, config, contextLength: 64);
        Assert.Equal(config, DualEncoderConfigJson.Read(path).Config);
        Assert.Contains("\"clip_vision_model\"", File.ReadAllText(path));
        Assert.Equal(config, ModelPresets.Resolve(path).Config);
    }

    [Fact]
    public void ModuleWeights_SaveLoad_RestoresEveryParameterExactly()
    {
        var a = TinyModel(1);
        var b = TinyModel(2);
        string path = Path.Combine(_dir, "model.safetensors");
        ModuleWeights.Save(a, path);
        ModuleWeights.Load(b, path);
        foreach (var ((name, ta), (_, tb)) in a.NamedParameters().Zip(b.NamedParameters()))
            Assert.True(ta.ToArray<float>().SequenceEqual(tb.ToArray<float>()), name);
        var names = SafetensorsFile.Read(path).Tensors.Keys.ToHashSet();
        Assert.Contains("vision_model.embeddings.patch_embeddings.projection.weight", names);
        Assert.Contains("text_model.embeddings.word_embeddings.weight", names);
        Assert.Contains("visual_projection.weight", names);
    }

    [Fact]
    public void ModuleWeights_Load_ListsMissingUnexpectedAndMismatchedByName()
    {
        string path = Path.Combine(_dir, "bad.safetensors");
        SafetensorsFile.Write(path, [
            SafetensorsTensor.FromFloat32("logit_scale", [2], [1f, 2f]),
            SafetensorsTensor.FromFloat32("something.else", [1], [1f]),
        ]);
        var e = Assert.Throws<InvalidDataException>(() => ModuleWeights.Load(TinyModel(1), path));
        Assert.Contains("missing vision_model.embeddings.cls_token", e.Message);
        Assert.Contains("unexpected something.else", e.Message);
        Assert.Contains("shape mismatch logit_scale (file [2], model [])", e.Message);
    }

    [Fact]
    public void CheckpointStore_KeepsNewest_AndRestoresOptimizer()
    {
        var model = TinyModel(3);
        var optimizer = new AdamW(WeightDecayPolicy.Groups(model));
        foreach (var p in model.Parameters())
        {
            p.Grad = Tensor.Zeros(CpuBackend.Instance, p.Shape);
            CpuBackend.Instance.Fill(p.Grad, 0.01);
        }
        optimizer.Update(1e-3);
        string extra = Path.Combine(_dir, "vocab.txt");
        File.WriteAllText(extra, "[PAD]\n");
        for (int step = 1; step <= 3; step++)
            CheckpointStore.Save(_dir, model, 64, optimizer, new TrainerState { GlobalStep = step }, [extra], keep: 2);

        var list = CheckpointStore.List(_dir);
        Assert.Equal(["checkpoint-0000002", "checkpoint-0000003"], list.Select(Path.GetFileName));
        Assert.Equal(list[^1], CheckpointStore.Latest(_dir));
        Assert.True(File.Exists(Path.Combine(list[^1], "vocab.txt")));

        var restored = new AdamW(WeightDecayPolicy.Groups(model));
        CheckpointStore.LoadOptimizer(list[^1], restored);
        Assert.Equal(1, restored.Step);
        foreach (var ((name, m, _), (_, m2, _)) in optimizer.State.Zip(restored.State))
            Assert.True(m.ToArray<float>().SequenceEqual(m2.ToArray<float>()), name);
    }

    [Fact]
    public void CheckpointStore_IncompleteFolder_NamesWhatIsMissing()
    {
        string folder = Path.Combine(_dir, "checkpoint-0000001");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), "{}");
        var e = Assert.Throws<InvalidDataException>(() => CheckpointStore.RequireModelFiles(folder));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("vocab.txt", e.Message);
    }

    [Fact]
    public void LearningRateSchedule_WarmsUpThenDecaysToMinimum()
    {
        var s = new LearningRateSchedule(1.0, WarmupSteps: 4, TotalSteps: 14);
        Assert.Equal(0.25, s.At(0), 12);
        Assert.Equal(1.0, s.At(3), 12);
        Assert.Equal(1.0, s.At(4), 12);
        Assert.Equal(0.5, s.At(9), 12);
        Assert.Equal(0.0, s.At(14), 12);
    }
}
