using MedClip.Autograd;
using MedClip.Backends.Cuda;
using MedClip.Diagnostics;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// Device memory is released by scopes, not by the garbage collector: a step's tensors return to the arena when its
/// scope ends, what outlives the step stays, and a tensor used after its scope fails in so many words.
/// </summary>
[Collection(EmulatorCollection.Name)]
public class DeviceMemoryScopeTests
{
    [EmulatorTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void ScopedTensors_ReturnTheirBlocksWhenTheScopeEnds(bool exact)
    {
        using var backend = EmulatorFixture.Create(exactAllocations: exact);
        long live = backend.Arena.LiveBlocks;
        for (int i = 0; i < 64; i++)
        {
            using var scope = backend.OpenScope();
            Tensor.Zeros(backend, [3 << 18]); // 3 MiB, released by the scope
            Tensor.Zeros(backend, [100]);
        }
        Assert.Equal(live, backend.Arena.LiveBlocks);
        Assert.True(backend.Arena.ReservedBytes < 2 * (3L << 20) + DeviceArena.ChunkBytes, $"{backend.Arena.ReservedBytes} bytes reserved");
    }

    [EmulatorFact]
    public void TensorUsedAfterItsScope_FailsNamingTheScope()
    {
        using var backend = EmulatorFixture.Create();
        var kept = Tensor.Zeros(backend, [4]);
        Tensor inner;
        using (backend.OpenScope())
        {
            inner = Tensor.Zeros(backend, [4]);
            backend.Fill(kept, 2);
        }
        Assert.Equal([2f, 2f, 2f, 2f], kept.ToArray<float>());
        var read = Assert.Throws<InvalidOperationException>(() => inner.ToArray<float>());
        Assert.Contains("used after the scope that allocated it ended", read.Message);
        var write = Assert.Throws<InvalidOperationException>(() => backend.Axpy(1, kept, inner));
        Assert.Contains("used after the scope that allocated it ended", write.Message);
    }

    [EmulatorFact]
    public void ScopesNest_AndAnInnerScopeReleasesOnlyItsOwn()
    {
        using var backend = EmulatorFixture.Create();
        using var outer = backend.OpenScope();
        var step = Tensor.Zeros(backend, [8]);
        Tensor batch;
        using (backend.OpenScope()) batch = Tensor.Zeros(backend, [8]);
        Assert.Equal(8, step.ToArray<float>().Length);
        Assert.Throws<InvalidOperationException>(() => batch.ToArray<float>());
    }

    [EmulatorFact]
    public void TrainingSteps_InScopes_KeepDeviceMemoryFlat_AndTheStateThatOutlivesThem()
    {
        using var backend = EmulatorFixture.Create();
        var (config, context) = BackendSelfTest.MicroModel();
        var model = new DualEncoder(new Init(backend, DType.F32, 1, new ComputePolicy(Precision.Bf16)), config);
        Bf16Weights.Attach(model);
        var optimizer = new AdamW(WeightDecayPolicy.Groups(model));
        var pixels = new Init(backend, DType.F32, 2).Normal([2, 3, config.Vision.ImageSize, config.Vision.ImageSize], 1.0);
        var ids = Tensor.FromArray(backend, [2, context], Enumerable.Range(0, 2 * context).Select(i => i % config.Text.VocabSize).ToArray());
        var mask = Tensor.FromArray(backend, [2, context], Enumerable.Range(0, 2 * context).Select(i => i % context < 6 ? 1 : 0).ToArray());
        void Step()
        {
            using var stepMemory = backend.OpenScope();
            var loss = model.Loss(pixels, ids, mask);
            loss.Backward();
            GradientClipping.ClipByGlobalNorm(model.Parameters(), 1.0);
            optimizer.Update(1e-3);
        }

        Step();
        Step();
        var (allocations, reserved, live) = (backend.Arena.DeviceAllocations, backend.Arena.ReservedBytes, backend.Arena.LiveBlocks);
        for (int i = 0; i < 20; i++) Step();

        Assert.Equal(allocations, backend.Arena.DeviceAllocations);
        Assert.Equal(reserved, backend.Arena.ReservedBytes);
        Assert.Equal(live, backend.Arena.LiveBlocks);
        // Parameters, their BF16 copies and the optimizer's moments were made outside the steps and are still readable.
        foreach (var p in model.Parameters()) Assert.All(p.ToArray<float>(), v => Assert.True(float.IsFinite(v)));
        Assert.All(model.Parameters().Where(p => p.Bf16Copy is not null), p => Assert.Equal(p.Length, p.Bf16Copy!.ToArray<ushort>().Length));
        Assert.All(optimizer.State, s => Assert.Equal(s.M.Length, s.V.ToArray<float>().Length));
        Assert.Equal(22, optimizer.Step);
    }
}
