using System.Runtime.InteropServices;
using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cuda.Native;
using MedClip.Diagnostics;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// How often a training step makes the host wait for the device, counted by the emulator (every stream, context or
/// event synchronisation and synchronous copy to host memory; <c>medclip_emu_host_syncs</c>). On a GPU each one drains
/// the queue of launched kernels, so the step's budget is explicit here.
/// </summary>
[Collection(EmulatorCollection.Name)]
public class HostSyncTests
{
    [EmulatorFact]
    public unsafe void TrainingStep_NeverWaitsForTheDevice_UntilTheLossIsRead()
    {
        using var backend = EmulatorFixture.Create();
        var hostSyncs = (delegate* unmanaged<long>)NativeLibrary.GetExport(CudaLibraries.Loaded!.DriverHandle, "medclip_emu_host_syncs");
        var (config, context) = BackendSelfTest.MicroModel();
        var model = new DualEncoder(new Init(backend, DType.F32, 1), config);
        var optimizer = new AdamW(WeightDecayPolicy.Groups(model));
        var pixels = new Init(backend, DType.F32, 2).Normal([2, 3, config.Vision.ImageSize, config.Vision.ImageSize], 1.0);
        var ids = Tensor.FromArray(backend, [2, context], Enumerable.Range(0, 2 * context).Select(i => i % config.Text.VocabSize).ToArray());
        var mask = Tensor.FromArray(backend, [2, context], Enumerable.Range(0, 2 * context).Select(i => i % context < 6 ? 1 : 0).ToArray());
        // Loss, backward, clipping (norm and factor on the device) and the multi-tensor AdamW, in the step's memory scope.
        double? Step(bool readLoss)
        {
            using var stepMemory = backend.OpenScope();
            var loss = model.Loss(pixels, ids, mask);
            loss.Backward();
            GradientClipping.ClipByGlobalNorm(model.Parameters(), 1.0);
            optimizer.Update(1e-3);
            return readLoss ? loss.Item() : null;
        }

        Step(readLoss: true);
        long before = hostSyncs();
        Step(readLoss: false);
        Step(readLoss: false);
        Assert.Equal(0, hostSyncs() - before);

        // A logging step's read: one wait, which also brings back the error word the embedding kernels may have set.
        before = hostSyncs();
        Assert.True(double.IsFinite(Step(readLoss: true)!.Value));
        Assert.Equal(1, hostSyncs() - before);
    }
}
