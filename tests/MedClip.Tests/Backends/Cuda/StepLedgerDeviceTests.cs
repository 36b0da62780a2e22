using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Tensors;
using L = MedClip.Backends.StepLedgerLayout;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// The training step's ledger on the device against the CPU reference: the same doubles in the ledger, and the scheduled
/// AdamW equal bit for bit to the multi-tensor AdamW with the step's numbers formed on the host, or nothing when skipped.
/// </summary>
[Collection(EmulatorCollection.Name)]
public class StepLedgerDeviceTests(EmulatorFixture emulator)
{
    private const int Capacity = 2;
    private static readonly double[] Rates = [1e-3, 2e-3, 3e-3];
    private static readonly int[] Lengths = [5000, 4096, 3, 1];

    // Parameters, gradients and moments of a few tensors, seeded; the second tensor decays and has its own rate factor.
    private static (Tensor[] P, Tensor[] G, Tensor[] M, Tensor[] V) State(IBackend backend)
    {
        var random = new Random(11);
        Tensor Values(int n, double scale) =>
            Tensor.FromArray(backend, [n], Enumerable.Range(0, n).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray());
        return ([.. Lengths.Select(n => Values(n, 1))], [.. Lengths.Select(n => Values(n, 0.1))], [.. Lengths.Select(n => Values(n, 0.01))],
            [.. Lengths.Select(n => Values(n, 0.001))]);
    }

    private static AdamWParameter[] Parameters((Tensor[] P, Tensor[] G, Tensor[] M, Tensor[] V) s) =>
        [.. Enumerable.Range(0, Lengths.Length).Select(i => new AdamWParameter(s.P[i], s.G[i], s.M[i], s.V[i], null, i == 1 ? 0.5 : 1.0, i == 1 ? 0.1 : 0))];

    // Two steps: step 1 from two micro-batch losses (applied or not, by its second loss), then step 2 applied.
    private static (double[] Ledger, float[][] Parameters) TwoSteps(IBackend backend, float secondLoss)
    {
        var initial = new double[L.Length(Capacity)];
        initial[L.Updates] = 4; // resumed: AdamW has taken 4 updates, the schedule stands at step 1
        initial[L.Steps] = 1;
        initial[L.AppliedLoss] = double.NaN;
        var ledger = Tensor.FromArray(backend, [initial.Length], initial);
        var schedule = Tensor.FromArray(backend, [Rates.Length], Rates);
        var state = State(backend);
        backend.AccumulateLoss(Tensor.Scalar(backend, 2.5), ledger, 2, first: true);
        backend.AccumulateLoss(Tensor.Scalar(backend, secondLoss), ledger, 2, first: false);
        backend.CloseStep(Tensor.Scalar(backend, 9.0), ledger, Capacity);
        backend.AdamWScheduled(Parameters(state), 0.9, 0.999, 1e-8, ledger, schedule);
        backend.AccumulateLoss(Tensor.Scalar(backend, 1.25, DType.F64), ledger, 1, first: true);
        backend.CloseStep(Tensor.Scalar(backend, 4.0), ledger, Capacity);
        backend.AdamWScheduled(Parameters(state), 0.9, 0.999, 1e-8, ledger, schedule);
        return (ledger.ToArray<double>(), [.. state.P.Select(p => p.ToArray<float>())]);
    }

    [EmulatorFact]
    public void AppliedSteps_CountOnTheDevice_AndUpdateAsTheHostFormedStepDoes()
    {
        var (cpuLedger, cpuParameters) = TwoSteps(CpuBackend.Instance, 3.5f);
        var (deviceLedger, deviceParameters) = TwoSteps(emulator.Backend, 3.5f);
        Assert.Equal(cpuLedger, deviceLedger);
        Assert.Equal(6.0, deviceLedger[L.Updates]);
        Assert.Equal(3.0, deviceLedger[L.Steps]);
        Assert.Equal(0.0, deviceLedger[L.Skipped]);
        Assert.Equal(1.25, deviceLedger[L.AppliedLoss]);
        Assert.Equal(0.0, deviceLedger[L.Records]);

        // The same two updates through the multi-tensor AdamW with t, rate and bias corrections formed on the host.
        var backend = emulator.Backend;
        var state = State(backend);
        foreach (var (t, step) in new[] { (5, 1), (6, 2) })
        {
            var host = L.AdamWUpdates(Parameters(state), 0.9, 0.999, 1e-8, [t, step + 1, 0], s => Rates[s])!;
            Assert.Equal(Rates[step] * 0.5, host[1].Step.LearningRate);
            backend.AdamWMultiTensor(host);
        }
        for (int i = 0; i < Lengths.Length; i++)
        {
            Assert.Equal(state.P[i].ToArray<float>(), deviceParameters[i]);
            Assert.Equal(cpuParameters[i], deviceParameters[i]);
        }
    }

    [EmulatorFact]
    public void NonFiniteLoss_SkipsTheStepOnTheDevice_AndRecordsIt()
    {
        var (cpuLedger, cpuParameters) = TwoSteps(CpuBackend.Instance, float.NaN);
        var (deviceLedger, deviceParameters) = TwoSteps(emulator.Backend, float.NaN);
        Assert.Equal(cpuLedger, deviceLedger);
        Assert.Equal(5.0, deviceLedger[L.Updates]); // only step 2 applied
        Assert.Equal(2.0, deviceLedger[L.Steps]);
        Assert.Equal(1.0, deviceLedger[L.Records]);
        Assert.Equal(1.0, deviceLedger[L.Header]); // the skipped step came after 1 applied step
        Assert.True(double.IsNaN(deviceLedger[L.Header + 1]));
        Assert.Equal(9.0, deviceLedger[L.Header + 2]);

        // Step 2 ran with t = 5 and the rate of schedule position 1, as if step 1 had never been.
        var backend = emulator.Backend;
        var state = State(backend);
        backend.AdamWMultiTensor(L.AdamWUpdates(Parameters(state), 0.9, 0.999, 1e-8, [5, 2, 0], s => Rates[s])!);
        for (int i = 0; i < Lengths.Length; i++)
        {
            Assert.Equal(state.P[i].ToArray<float>(), deviceParameters[i]);
            Assert.Equal(cpuParameters[i], deviceParameters[i]);
        }
    }
}
