using System.Runtime.InteropServices;
using MedClip.Backends;
using MedClip.Backends.Cuda.Native;
using MedClip.Data.Loading;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using MedClip.Tests.Backends.Cuda;
using MedClip.Training;

namespace MedClip.Tests.Training;

/// <summary>
/// How often the trainer makes the host wait for the device in a step, counted by the emulator
/// (<c>medclip_emu_host_syncs</c>: stream, context and event synchronisations and synchronous copies to the host;
/// <c>medclip_emu_device_to_host_copies</c>: every copy to the host). The counts between two batch draws are one whole
/// step: forward, backward, clipping, AdamW, and its logging when due.
/// </summary>
[Collection(EmulatorCollection.Name)]
public sealed class TrainerHostSyncTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-trainer-syncs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The batches of another source, with the emulator's counts noted as each one is drawn.</summary>
    private sealed class CountingBatches(IBatchSource inner, Func<(long Syncs, long Copies, long TableWrites)> counts) : IBatchSource
    {
        public List<(long Syncs, long Copies, long TableWrites)> CountsAtDraw { get; } = [];

        public int BatchesPerEpoch => inner.BatchesPerEpoch;

        public IEnumerable<Batch> Epoch(int epoch, int startBatch)
        {
            foreach (var batch in inner.Epoch(epoch, startBatch))
            {
                CountsAtDraw.Add(counts());
                yield return batch;
            }
        }
    }

    [EmulatorFact]
    public unsafe void TrainingStep_WaitsForTheDevice_OnlyAtLoggingSteps()
    {
        using var backend = EmulatorFixture.Create();
        var hostSyncs = (delegate* unmanaged<long>)NativeLibrary.GetExport(CudaLibraries.Loaded!.DriverHandle, "medclip_emu_host_syncs");
        var copies = (delegate* unmanaged<long>)NativeLibrary.GetExport(CudaLibraries.Loaded!.DriverHandle, "medclip_emu_device_to_host_copies");
        var layer = new TransformerConfig(16, 2, 32, Activation.GeluErf, 1e-12);
        var config = new DualEncoderConfig(new VisionConfig(TrainerTests.ImageSize, 8, 3, 1, layer),
            new TextConfig(30, TrainerTests.Context, 2, 1, layer), 8);
        var model = new DualEncoder(new Init(backend, DType.F32, 7), config);
        var options = new TrainingOptions
        {
            Steps = 7, BatchSize = TrainerTests.BatchSize, LearningRate = 1e-3, WarmupSteps = 2, LogEvery = 3, ValidateEvery = 0,
            CheckpointEvery = 1000, OutputDirectory = Path.Combine(_dir, "run"),
        };
        var batches = new CountingBatches(new TrainerTests.RandomBatches(4), () => (hostSyncs(), copies(), backend.AdamWTableWrites));

        new Trainer(options, model, TrainerTests.Context, []).Run(batches, null, null, CancellationToken.None);

        // Step k (1-based) runs between draws k and k + 1; steps 3 and 6 log. A step that does not log never waits; one
        // that logs reads the step ledger (with the kernels' error word, in the same wait) and the logit scale. AdamW's
        // table went to the device in the first step and is not written again.
        var draws = batches.CountsAtDraw;
        Assert.Equal(7, draws.Count);
        var perStep = Enumerable.Range(2, 5).Select(step => (Step: step, draws[step].Syncs - draws[step - 1].Syncs, draws[step].Copies - draws[step - 1].Copies,
            draws[step].TableWrites - draws[step - 1].TableWrites));
        Assert.Equal(new (int, long, long, long)[] { (2, 0, 0, 0), (3, 2, 3, 0), (4, 0, 0, 0), (5, 0, 0, 0), (6, 2, 3, 0) }, perStep);
        Assert.Equal(1, draws[1].TableWrites);
    }
}
