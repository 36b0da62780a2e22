using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Diagnostics;
using MedClip.Distributed;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;
using MedClip.Tests.Backends.Cuda;
using MedClip.Tests.Distributed;

namespace MedClip.Tests.Models;

/// <summary>
/// The single-process loss (<see cref="DualEncoder.Loss(Tensor, Tensor, Tensor)"/>) and the data-parallel one (the same
/// model's loss of the global batch gathered from the ranks) take one path: the fused InfoNCE op where the policy says so
/// (bf16), the two cross-entropies otherwise, with the same loss and gradients.
/// </summary>
[Collection(EmulatorCollection.Name)]
public class DualEncoderLossPathTests(EmulatorFixture emulator)
{
    private const int Batch = 4;

    private static ComputePolicy Policy(bool bf16) => new(bf16 ? Precision.Bf16 : Precision.Fp32);

    private sealed record Step(double Loss, string LossOp, Dictionary<string, float[]> Gradients);

    // One forward and backward of the micro model on rows [start, start + rows) of a fixed batch; a communicator makes it
    // one rank's data-parallel step (gradients averaged over the ranks).
    private static Step Run(IBackend backend, ComputePolicy compute, int start, int rows, ICommunicator? communicator)
    {
        var (config, context) = BackendSelfTest.MicroModel();
        var model = new DualEncoder(new Init(backend, DType.F32, 7, compute), config);
        if (compute.Precision == Precision.Bf16) Bf16Weights.Attach(model);
        int image = config.Vision.ImageSize, pixelsPerRow = config.Vision.Channels * image * image;
        var data = new Random(3);
        var pixels = Enumerable.Range(0, Batch * pixelsPerRow).Select(_ => (float)(data.NextDouble() * 2 - 1)).ToArray();
        var ids = Enumerable.Range(0, Batch * context).Select(_ => data.Next(config.Text.VocabSize)).ToArray();
        var mask = Enumerable.Range(0, Batch * context).Select(i => i % context < context - i / context ? 1 : 0).ToArray();
        var p = Tensor.FromArray(backend, [rows, config.Vision.Channels, image, image], pixels[(start * pixelsPerRow)..((start + rows) * pixelsPerRow)]);
        var t = Tensor.FromArray(backend, [rows, context], ids[(start * context)..((start + rows) * context)]);
        var m = Tensor.FromArray(backend, [rows, context], mask[(start * context)..((start + rows) * context)]);

        var loss = communicator is null ? model.Loss(p, t, m) : model.Loss(p, t, m, communicator, localLoss: false);
        string op = loss.GradFn!.Op;
        loss.Backward();
        double value = loss.Item();
        if (communicator is { WorldSize: > 1 })
        {
            value = communicator.AllReduceSum([value])[0] / communicator.WorldSize;
            GradientAverage.Apply(model.Parameters(), communicator);
        }
        return new Step(value, op, model.NamedParameters().Where(n => n.Tensor.Grad is not null)
            .ToDictionary(n => n.Name, n => n.Tensor.Grad!.ToArray<float>()));
    }

    private static void AssertSamePath(Step single, Step distributed, bool bf16, double tolerance)
    {
        Assert.Equal(bf16 ? "InfoNce" : "Add", single.LossOp);
        Assert.Equal(single.LossOp, distributed.LossOp);
        Assert.True(Math.Abs(single.Loss - distributed.Loss) <= tolerance * Math.Abs(single.Loss), $"loss {distributed.Loss} against {single.Loss}");
        Assert.Equal(single.Gradients.Keys.Order(), distributed.Gradients.Keys.Order());
        double largest = single.Gradients.Values.Max(g => g.Max(Math.Abs));
        foreach (var (name, expected) in single.Gradients)
        {
            double worst = expected.Zip(distributed.Gradients[name], (e, a) => Math.Abs(e - a)).Max();
            Assert.True(worst <= tolerance * largest, $"{name}: worst difference {worst:E2} against the largest gradient {largest:E2}");
        }
    }

    /// <summary>In one process the data-parallel loss is the single-process one to the bit (world size 1).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WorldSizeOne_IsTheSingleProcessLoss_ToTheBit_Cpu(bool bf16) =>
        AssertSamePath(Run(CpuBackend.Instance, Policy(bf16), 0, Batch, null),
            Run(CpuBackend.Instance, Policy(bf16), 0, Batch, SingleProcessCommunicator.Instance), bf16, tolerance: 0);

    /// <summary>
    /// The same under the CUDA emulator, where reductions that add with atomics (cross-entropy, layer norm, column sums)
    /// sum in no fixed order, so two runs of one loss differ in their last bits (measured: 1.6e-7 of the fp32 loss):
    /// 1e-5 of the largest gradient in fp32, and 1e-2 in bf16, where such a difference can move a BF16 rounding by a unit.
    /// </summary>
    [EmulatorTheory]
    [InlineData(false, 1e-5)]
    [InlineData(true, 1e-2)]
    public void WorldSizeOne_IsTheSingleProcessLoss_CudaEmulator(bool bf16, double tolerance) =>
        AssertSamePath(Run(emulator.Backend, Policy(bf16), 0, Batch, null),
            Run(emulator.Backend, Policy(bf16), 0, Batch, SingleProcessCommunicator.Instance), bf16, tolerance);

    /// <summary>
    /// Two simulated ranks of two pairs each against one process with all four: the same op, and the same loss and
    /// rank-averaged gradients up to the order of the sums over the batch (each rank sums its own rows), 1e-5 of the
    /// largest gradient in fp32; in bf16 those sums' last bits can move a BF16 rounding of a gradient operand by one unit
    /// (2^-8), hence 1e-2.
    /// </summary>
    [Theory]
    [InlineData(false, 1e-5)]
    [InlineData(true, 1e-2)]
    public void TwoRanks_TakeTheSinglePath_WithTheSameLossAndGradients(bool bf16, double tolerance)
    {
        var single = Run(CpuBackend.Instance, Policy(bf16), 0, Batch, null);
        var ranks = ThreadedRanks.Run(2, comm => Run(CpuBackend.Instance, Policy(bf16), comm.Rank * Batch / 2, Batch / 2, comm));
        foreach (var rank in ranks) AssertSamePath(single, rank, bf16, tolerance);
    }
}
