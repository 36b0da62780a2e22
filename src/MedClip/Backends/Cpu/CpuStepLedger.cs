using MedClip.Tensors;
using L = MedClip.Backends.StepLedgerLayout;

namespace MedClip.Backends.Cpu;

// The training step's ledger on the CPU: the reference for kernels/step_ledger.cu and adamw_multi_scheduled_f32.
public sealed partial class CpuBackend
{
    public void AccumulateLoss(Tensor loss, Tensor ledger, int accumulationSteps, bool first)
    {
        var l = D<double>(ledger);
        l[L.Loss] = (first ? 0.0 : l[L.Loss]) + ScalarValue(loss) / accumulationSteps;
    }

    public void CloseStep(Tensor sumSquares, Tensor ledger, int recordCapacity)
    {
        var l = D<double>(ledger);
        double loss = l[L.Loss], norm2 = ScalarValue(sumSquares);
        l[L.SumSquares] = norm2;
        bool applied = double.IsFinite(loss) && double.IsFinite(norm2);
        l[L.Skipped] = applied ? 0 : 1;
        if (applied)
        {
            l[L.Updates]++;
            l[L.Steps]++;
            l[L.AppliedLoss] = loss;
            return;
        }
        long record = (long)l[L.Records];
        long at = L.Header + record % recordCapacity * L.RecordLength;
        (l[at], l[at + 1], l[at + 2]) = (l[L.Steps], loss, norm2);
        l[L.Records] = record + 1;
    }

    public void AdamWScheduled(ReadOnlySpan<AdamWParameter> parameters, double beta1, double beta2, double eps, Tensor ledger, Tensor schedule)
    {
        var rates = D<double>(schedule);
        if (L.AdamWUpdates(parameters, beta1, beta2, eps, D<double>(ledger), step => rates[step]) is { } updates) AdamWMultiTensor(updates);
    }

    // A one-element F32 or F64 tensor's value, in double.
    private static double ScalarValue(Tensor t) => t.DType == DType.F64 ? D<double>(t)[0] : D<float>(t)[0];
}
