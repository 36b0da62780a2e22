using MedClip.Backends;
using MedClip.Tensors;
using L = MedClip.Backends.StepLedgerLayout;

namespace MedClip.Optim;

/// <summary>
/// The trainer's steps as the device keeps them (<see cref="StepLedgerLayout"/>), so that a step never waits for the
/// device: the micro-batches' losses add up there, a step whose loss or gradient norm is not finite is skipped there
/// (AdamW leaves weights and moments as they were; neither AdamW's t nor the schedule's position advances) and recorded,
/// and AdamW takes its t and learning rate from there. The host learns what happened when it reads the ledger
/// (<see cref="Read"/>): at least every <see cref="Capacity"/> steps, or skipped-step records are lost.
/// </summary>
public sealed class StepLedger
{
    private readonly IBackend _backend;
    private long _recordsRead;

    /// <param name="learningRates">The learning rate of each step, by the count of steps applied before it.</param>
    /// <param name="updates">AdamW's updates so far; <paramref name="steps"/>: steps applied so far (a checkpoint's when resuming).</param>
    /// <param name="lastLoss">The last applied step's loss, if any.</param>
    /// <param name="capacity">Skipped steps the device can record between two reads.</param>
    public StepLedger(IBackend backend, double[] learningRates, int updates, int steps, double? lastLoss, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        var initial = new double[L.Length(capacity)];
        initial[L.Updates] = updates;
        initial[L.Steps] = steps;
        initial[L.AppliedLoss] = lastLoss ?? double.NaN;
        _backend = backend;
        Ledger = Tensor.FromArray(backend, [initial.Length], initial);
        Schedule = Tensor.FromArray(backend, [learningRates.Length], learningRates);
        Capacity = capacity;
    }

    /// <summary>The F64 ledger on the device.</summary>
    public Tensor Ledger { get; }

    /// <summary>The learning rates by steps applied, F64 on the device.</summary>
    public Tensor Schedule { get; }

    public int Capacity { get; }

    /// <summary>Adds a micro-batch's loss (a one-element tensor) to the open step's mean over <paramref name="accumulationSteps"/>.</summary>
    public void AddLoss(Tensor loss, int accumulationSteps, bool first) => _backend.AccumulateLoss(loss, Ledger, accumulationSteps, first);

    /// <summary>Closes the open step with its squared gradient norm (<see cref="GradientClipping.ClipByGlobalNorm"/>'s): skipped or applied.</summary>
    public void Close(Tensor sumSquares) => _backend.CloseStep(sumSquares, Ledger, Capacity);

    /// <summary>
    /// Where the steps stand, with the steps skipped since the last read, oldest first. Waits for the device once (twice
    /// when steps were skipped, to fetch their records).
    /// </summary>
    public StepLedgerReading Read()
    {
        var header = new double[L.Header];
        _backend.CopyToHost<double>(Ledger.Storage, header);
        long records = (long)header[L.Records];
        if (records - _recordsRead > Capacity)
            throw new InvalidOperationException($"{records - _recordsRead} steps were skipped since the ledger was last read, more than its {Capacity} records.");
        var skipped = new List<SkippedStep>();
        if (records > _recordsRead)
        {
            var all = Ledger.ToArray<double>();
            for (long r = _recordsRead; r < records; r++)
            {
                long at = L.Header + r % Capacity * L.RecordLength;
                skipped.Add(new SkippedStep((int)all[at], all[at + 1], all[at + 2]));
            }
        }
        _recordsRead = records;
        return new StepLedgerReading((int)header[L.Updates], (int)header[L.Steps], header[L.Skipped] != 0, header[L.Loss],
            double.IsNaN(header[L.AppliedLoss]) ? null : header[L.AppliedLoss], header[L.SumSquares], skipped);
    }
}

/// <summary>A skipped step: the steps applied before it, its loss and its squared gradient norm (either not finite).</summary>
public readonly record struct SkippedStep(int Step, double Loss, double SumSquares)
{
    /// <summary>The gradient norm as the trainer reports it: NaN after a non-finite loss (clipping's norm is not looked at then).</summary>
    public double GradNorm => double.IsFinite(Loss) ? Math.Sqrt(SumSquares) : double.NaN;
}

/// <summary>
/// One read of a <see cref="StepLedger"/>: AdamW's updates and the steps applied, whether the last closed step was skipped,
/// its loss and squared gradient norm, the last applied step's loss, and the steps skipped since the previous read.
/// </summary>
public sealed record StepLedgerReading(int Updates, int Steps, bool LastSkipped, double Loss, double? AppliedLoss, double SumSquares,
    IReadOnlyList<SkippedStep> Skipped);
