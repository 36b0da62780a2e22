using System.Diagnostics;
using System.Text.Json.Nodes;
using MedClip.Backends.Cpu;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;
using MedClip.Training;

namespace MedClip.Tests.Training;

/// <summary>Run folder ownership, checkpoint replacement and retention, and the validation of hand-edited state and config files.</summary>
public sealed class RunFolderSafetyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-runfolder-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (DualEncoder, AdamW) TinyModel()
    {
        var preset = ModelPresets.Get("tiny", vocabSize: 50);
        var config = preset.Config with { Vision = preset.Config.Vision with { Layers = 1 }, Text = preset.Config.Text with { Layers = 1 } };
        var model = new DualEncoder(new Init(CpuBackend.Instance, DType.F32, 1), config);
        return (model, new AdamW(WeightDecayPolicy.Groups(model)));
    }

    private string Save(DualEncoder model, AdamW optimizer, int step, int keep = 2) =>
        CheckpointStore.Save(_dir, model, 64, optimizer, new TrainerState { GlobalStep = step, ConsumedBatches = step, BatchesPerEpoch = 1 }, [], keep);

    [Fact]
    public void Lock_IsExclusive_AndReleasedOnDispose()
    {
        using (var owner = RunFolderLock.Acquire(_dir))
        {
            var e = Assert.Throws<RunFolderInUseException>(() => RunFolderLock.Acquire(_dir));
            Assert.Contains($"in use by process {Environment.ProcessId}", e.Message);
            Assert.Null(owner.StalePid);
        }
        Assert.False(File.Exists(Path.Combine(_dir, RunFolderLock.FileName)));
        using var again = RunFolderLock.Acquire(_dir);
    }

    [Fact]
    public void Lock_LeftByAnEndedProcess_IsTakenOverAsStale()
    {
        using var ended = Process.Start(new ProcessStartInfo("true"))!;
        ended.WaitForExit();
        File.WriteAllText(Path.Combine(_dir, RunFolderLock.FileName), "");
        File.WriteAllText(Path.Combine(_dir, RunFolderLock.PidFileName), ended.Id.ToString());
        using var owner = RunFolderLock.Acquire(_dir);
        Assert.Equal(ended.Id, owner.StalePid);
        Assert.Equal(Environment.ProcessId.ToString(), File.ReadAllText(Path.Combine(_dir, RunFolderLock.PidFileName)));
    }

    [Fact]
    public void ResavingAStep_NeverLeavesTheStepWithoutACheckpoint()
    {
        var (model, optimizer) = TinyModel();
        string first = Save(model, optimizer, 5);
        File.WriteAllText(Path.Combine(first, "marker"), "old");
        string second = Save(model, optimizer, 5);
        Assert.Equal(first, second);
        Assert.False(File.Exists(Path.Combine(second, "marker")));
        Assert.Empty(Directory.GetDirectories(_dir, ".*"));
    }

    [Fact]
    public void RemoveStale_DeletesUnfinishedSaves_AndRestoresACheckpointRenamedAside()
    {
        var (model, optimizer) = TinyModel();
        string saved = Save(model, optimizer, 7);
        // A kill between "old renamed aside" and "new renamed in": only the aside copy exists.
        string aside = Path.Combine(_dir, ".checkpoint-0000007.replaced");
        Directory.Move(saved, aside);
        string unfinished = Path.Combine(_dir, ".checkpoint-0000008.0123.tmp");
        Directory.CreateDirectory(unfinished);
        var removed = CheckpointStore.RemoveStale(_dir);
        Assert.Equal([unfinished], removed);
        Assert.True(File.Exists(Path.Combine(saved, CheckpointStore.WeightsFile)));
        Assert.Equal([saved], CheckpointStore.List(_dir));
        Assert.Empty(Directory.GetDirectories(_dir, ".*"));
    }

    [Fact]
    public void Retention_SparesACheckpointBeingRead_UntilTheReaderIsDone()
    {
        var (model, optimizer) = TinyModel();
        string oldest = Save(model, optimizer, 1, keep: 1);
        using (CheckpointStore.OpenForReading(oldest))
        {
            Save(model, optimizer, 2, keep: 1);
            Assert.True(Directory.Exists(oldest));
        }
        Save(model, optimizer, 3, keep: 1);
        Assert.Equal(["checkpoint-0000003"], CheckpointStore.List(_dir).Select(Path.GetFileName));
    }

    [Fact]
    public void OverwrittenRun_LosesItsCheckpointsAndMetrics_ButNotItsData()
    {
        var (model, optimizer) = TinyModel();
        Save(model, optimizer, 1);
        File.WriteAllText(Path.Combine(_dir, RunFolder.MetricsFile), "{\"step\":1}\n");
        Directory.CreateDirectory(Path.Combine(_dir, "synthetic-data"));
        Assert.True(RunFolder.HoldsRun(_dir));
        RunFolder.RemoveRun(_dir);
        Assert.False(RunFolder.HoldsRun(_dir));
        Assert.True(Directory.Exists(Path.Combine(_dir, "synthetic-data")));
    }

    [Fact]
    public void MetricsAfterTheResumedCheckpoint_AndATornLine_AreDropped()
    {
        string path = Path.Combine(_dir, RunFolder.MetricsFile);
        File.WriteAllText(path, "{\"step\":1,\"loss\":2}\n{\"step\":2,\"loss\":1.5}\n{\"step\":2,\"val_loss\":1.4}\n{\"step\":3,\"loss\":1.2}\n{\"step\":4,\"lo");
        MetricsLog.KeepThrough(path, 2);
        Assert.Equal([1, 2, 2], MetricsLog.Read(path).Select(l => (int)l["step"]!));
    }

    [Theory]
    [InlineData("{\"global_step\": -5, \"consumed_batches\": 0, \"total_steps\": 10, \"batches_per_epoch\": 3}", "global_step is -5")]
    [InlineData("{\"global_step\": 4, \"consumed_batches\": 2, \"total_steps\": 10, \"batches_per_epoch\": 3}", "consumed_batches is 2")]
    [InlineData("{\"global_step\": 4, \"consumed_batches\": 4, \"total_steps\": 10, \"batches_per_epoch\": 0}", "batches_per_epoch is 0")]
    public void TrainerState_WithImpossibleValues_IsRefusedNamingTheField(string json, string expected)
    {
        string path = Path.Combine(_dir, CheckpointStore.StateFile);
        File.WriteAllText(path, json);
        var e = Assert.Throws<InvalidDataException>(() => TrainerState.Read(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData("text_config", "hidden_size", 2_000_000_000)]
    [InlineData("vision_config", "hidden_size", 0)]
    [InlineData("vision_config", "patch_size", -16)]
    [InlineData("text_config", "vocab_size", 0)]
    [InlineData("text_config", "num_hidden_layers", 100_000)]
    public void ConfigSizes_OutOfRange_AreRefusedNamingTheField_BeforeAllocating(string tower, string field, int value)
    {
        string path = Path.Combine(_dir, "config.json");
        DualEncoderConfigJson.Write(path, ModelPresets.Get("tiny").Config, contextLength: 64);
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        root[tower]![field] = value;
        File.WriteAllText(path, root.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => DualEncoderConfigJson.Read(path));
        Assert.Contains($"{field} is {value}", e.Message);
    }

    [Fact]
    public void ResumingOtherData_IsRefused_NamingTheCheckpoint()
    {
        var saved = new TrainerState { BatchesPerEpoch = 4, Seed = 0, DataSha256 = TrainerState.ListingSha256([("a.jpg", "edema")]) };
        var other = saved with { DataSha256 = TrainerState.ListingSha256([("a.jpg", "no edema")]) };
        var e = Assert.Throws<InvalidDataException>(() => saved.CheckContinuedBy(other, "runs/a/checkpoint-0000010"));
        Assert.Contains("'runs/a/checkpoint-0000010' was trained on other data", e.Message);
        saved.CheckContinuedBy(saved, "runs/a/checkpoint-0000010");
    }
}
