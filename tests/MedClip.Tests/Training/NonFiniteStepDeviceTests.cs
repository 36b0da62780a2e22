using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using MedClip.Tests.Backends.Cuda;
using MedClip.Training;

namespace MedClip.Tests.Training;

/// <summary>
/// The trainer on the CUDA backend under the emulator against the CPU: a non-finite step is skipped on the device, and
/// the run logs the same lines (the skipped step, then steps 3 and 6 with the same losses up to summation order).
/// </summary>
[Collection(EmulatorCollection.Name)]
public sealed class NonFiniteStepDeviceTests(EmulatorFixture emulator) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-nonfinite-device-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (TrainingSummary Summary, IReadOnlyList<System.Text.Json.Nodes.JsonObject> Lines) Train(IBackend backend, string name)
    {
        var layer = new TransformerConfig(16, 2, 32, Activation.GeluErf, 1e-12);
        var config = new DualEncoderConfig(new VisionConfig(TrainerTests.ImageSize, 8, 3, 1, layer), new TextConfig(30, TrainerTests.Context, 2, 1, layer), 8);
        var options = new TrainingOptions
        {
            Steps = 6, BatchSize = TrainerTests.BatchSize, LearningRate = 1e-3, WarmupSteps = 2, LogEvery = 3, ValidateEvery = 0,
            CheckpointEvery = 1000, OutputDirectory = Path.Combine(_dir, name),
        };
        var summary = new Trainer(options, new DualEncoder(new Init(backend, DType.F32, 7), config), TrainerTests.Context, [])
            .Run(new TrainerTests.RandomBatches(4, poisonFrom: 1, poisonUntil: 2), null, null, CancellationToken.None);
        return (summary, MetricsLog.Read(Path.Combine(options.OutputDirectory, "metrics.jsonl")));
    }

    [EmulatorFact]
    public void NonFiniteStep_IsSkippedOnTheDevice_AsOnTheCpu()
    {
        var cpu = Train(CpuBackend.Instance, "cpu");
        var device = Train(emulator.Backend, "device");

        Assert.Equal(6, device.Summary.Steps);
        Assert.Equal(cpu.Lines.Select(l => ((int)l["step"]!, l.ContainsKey("skipped"))), device.Lines.Select(l => ((int)l["step"]!, l.ContainsKey("skipped"))));
        Assert.Equal("non-finite loss", (string?)device.Lines.Single(l => l.ContainsKey("skipped"))["skipped"]);
        foreach (var (c, d) in cpu.Lines.Zip(device.Lines).Where(p => p.First.ContainsKey("lr")))
        {
            Assert.Equal((double)c["lr"]!, (double)d["lr"]!);
            Assert.Equal((double)c["loss"]!, (double)d["loss"]!, 1e-4 * (double)c["loss"]!);
            Assert.Equal((double)c["grad_norm"]!, (double)d["grad_norm"]!, 1e-3 * (double)c["grad_norm"]!);
        }
    }
}
