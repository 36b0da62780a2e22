using MedClip.Tensors;
using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

/// <summary>
/// The training step's ledger (kernels/step_ledger.cu) and the scheduled multi-tensor AdamW that reads it, so that a step
/// queues its work without waiting for the device; and the kept tables both multi-tensor AdamW launches read.
/// </summary>
public sealed partial class CudaBackend
{
    public void AccumulateLoss(Tensor loss, Tensor ledger, int accumulationSteps, bool first)
    {
        RequireLedger(nameof(AccumulateLoss), ledger);
        Launch(Kernels.StepLedgerCu.AccumulateLoss(KernelType(loss), P(loss), P(ledger), accumulationSteps, first ? 1 : 0), (1, 1), (32, 1));
    }

    public void CloseStep(Tensor sumSquares, Tensor ledger, int recordCapacity)
    {
        RequireLedger(nameof(CloseStep), ledger);
        if (ledger.Length < StepLedgerLayout.Length(recordCapacity))
            throw new ArgumentException($"CloseStep: {ledger.Describe()} has no room for {recordCapacity} records.");
        Launch(Kernels.StepLedgerCu.CloseStep(KernelType(sumSquares), P(sumSquares), P(ledger), recordCapacity), (1, 1), (32, 1));
    }

    // The scheduled AdamW's table: 8 longs (64 bytes) per tensor, the layout of adamw_scheduled_tensor in adamw.cu; and
    // the gradients' addresses, one long per tensor.
    private const int AdamWScheduledLongs = 8;
    private readonly KeptTable _adamwScheduledTable = new(), _adamwGradients = new();

    public void AdamWScheduled(ReadOnlySpan<AdamWParameter> parameters, double beta1, double beta2, double eps, Tensor ledger, Tensor schedule)
    {
        if (parameters.IsEmpty) return;
        RequireLedger(nameof(AdamWScheduled), ledger);
        RequireLedger(nameof(AdamWScheduled), schedule);
        foreach (var t in parameters)
        {
            SameLength(t.Parameter, t.Gradient);
            SameLength(t.Parameter, t.M);
            SameLength(t.Parameter, t.V);
            if (t.Parameter.DType != DType.F32)
            {
                // F64 (gradient checks) has no fused kernel: the host reads the ledger (a wait) and updates tensor by tensor.
                var rates = schedule.ToArray<double>();
                var updates = StepLedgerLayout.AdamWUpdates(parameters, beta1, beta2, eps, ledger.ToArray<double>(), step => rates[step]);
                if (updates is not null) AdamWMultiTensor(updates);
                return;
            }
            SameType(nameof(AdamWScheduled), t.Parameter, t.Gradient, t.M, t.V);
            if (t.Bf16Copy is { } c && (c.DType != DType.BF16 || c.Length != t.Parameter.Length))
                throw new ArgumentException($"AdamWScheduled: the copy {c.Describe()} of {t.Parameter.Describe()} must be BF16 of its size.");
        }
        var table = new long[parameters.Length * AdamWScheduledLongs];
        var gradients = new long[parameters.Length];
        long chunks = 0;
        for (int i = 0; i < parameters.Length; i++)
        {
            var t = parameters[i];
            var row = table.AsSpan(i * AdamWScheduledLongs, AdamWScheduledLongs);
            row[0] = (long)DeviceStorage(t.Parameter).Pointer;
            row[1] = (long)DeviceStorage(t.M).Pointer;
            row[2] = (long)DeviceStorage(t.V).Pointer;
            row[3] = t.Bf16Copy is null ? 0 : (long)DeviceStorage(t.Bf16Copy).Pointer;
            row[4] = t.Parameter.Length;
            row[5] = BitConverter.DoubleToInt64Bits(t.LearningRateScale);
            row[6] = BitConverter.SingleToUInt32Bits((float)t.WeightDecay);
            row[7] = chunks;
            gradients[i] = (long)DeviceStorage(t.Gradient).Pointer;
            chunks += (t.Parameter.Length + AdamWChunk - 1) / AdamWChunk;
        }
        if (chunks == 0) return;
        if (chunks > int.MaxValue)
            throw new ArgumentException($"AdamWScheduled: {chunks:N0} chunks of {AdamWChunk} values exceed one launch; update the parameters in groups.");
        Launch(Kernels.AdamwCu.AdamwMultiScheduledF32(_adamwScheduledTable.Write(this, table), _adamwGradients.Write(this, gradients), parameters.Length,
            beta1, beta2, (float)eps, P(ledger), P(schedule)), ((uint)chunks, 1));
    }

    /// <summary>How often a multi-tensor AdamW table was copied to the device (a kept one only when a row changed).</summary>
    internal int AdamWTableWrites => _adamwTable.Writes + _adamwScheduledTable.Writes;

    /// <summary>How often the scheduled AdamW's gradient addresses were copied to the device (when a gradient's block moved).</summary>
    internal int AdamWGradientAddressWrites => _adamwGradients.Writes;

    private static void RequireLedger(string op, Tensor t)
    {
        if (t.DType != DType.F64) throw new ArgumentException($"{op}: {t.Describe()} must be F64.");
    }

    /// <summary>
    /// A table a kernel reads, kept on the device and copied again only when a value changed. Neither copy waits: from
    /// pageable memory the driver stages the data before the call returns, and the launch that last read the table ran
    /// earlier on the same stream.
    /// </summary>
    private sealed class KeptTable
    {
        private CudaStorage? _device;
        private long[] _written = [];

        public int Writes { get; private set; }

        public unsafe DevicePointer Write(CudaBackend backend, long[] table)
        {
            if (_device is not null && table.AsSpan().SequenceEqual(_written)) return new DevicePointer(_device.Pointer);
            long ints = table.Length * 2L;
            if (_device is null || _device.Length < ints) _device = backend.NewStorage(DType.I32, ints, scoped: false);
            backend._device.MakeCurrent();
            fixed (long* host = table)
                Check(cuMemcpyHtoDAsync_v2(_device.Pointer, host, (nuint)(table.Length * sizeof(long)), backend._device.Stream), "cuMemcpyHtoDAsync_v2");
            _written = table;
            Writes++;
            return new DevicePointer(_device.Pointer);
        }
    }
}
