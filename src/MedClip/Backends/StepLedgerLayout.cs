namespace MedClip.Backends;

/// <summary>
/// The slots of a training step's ledger, an F64 tensor that <see cref="IBackend.AccumulateLoss"/>,
/// <see cref="IBackend.CloseStep"/> and <see cref="IBackend.AdamWScheduled"/> keep on the device (kernels/step_ledger.cu
/// uses the same numbers): a header, then a ring of <c>capacity</c> records of the skipped steps.
/// </summary>
public static class StepLedgerLayout
{
    /// <summary>AdamW updates applied (the t of the bias corrections).</summary>
    public const int Updates = 0;
    /// <summary>Steps applied: the learning rate schedule's position.</summary>
    public const int Steps = 1;
    /// <summary>1 when the last closed step was skipped (its loss or gradient norm was not finite), else 0.</summary>
    public const int Skipped = 2;
    /// <summary>The open step's loss: the mean of its micro-batches' losses.</summary>
    public const int Loss = 3;
    /// <summary>The last applied step's loss (NaN before the first).</summary>
    public const int AppliedLoss = 4;
    /// <summary>The last closed step's squared global gradient norm, before clipping.</summary>
    public const int SumSquares = 5;
    /// <summary>Skipped steps recorded so far; record r is at <see cref="Header"/> + (r % capacity) * <see cref="RecordLength"/>.</summary>
    public const int Records = 6;
    public const int Header = 8;
    /// <summary>A record: the steps applied before the skipped one, its loss, its squared gradient norm.</summary>
    public const int RecordLength = 3;

    public static long Length(int capacity) => Header + (long)RecordLength * capacity;

    /// <summary>
    /// The per-tensor updates <see cref="IBackend.AdamWScheduled"/> makes from the ledger's values and the schedule's
    /// rate for its position, as <c>AdamW.Update</c> forms them on the host; null when the ledger marks the step skipped.
    /// </summary>
    public static AdamWTensor[]? AdamWUpdates(ReadOnlySpan<AdamWParameter> parameters, double beta1, double beta2, double eps, ReadOnlySpan<double> header,
        Func<long, double> learningRateAt)
    {
        if (header[Skipped] != 0) return null;
        double t = header[Updates];
        double learningRate = learningRateAt((long)header[Steps] - 1);
        double bc1 = 1 - Math.Pow(beta1, t), bc2 = 1 - Math.Pow(beta2, t);
        var updates = new AdamWTensor[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            updates[i] = new AdamWTensor(p.Parameter, p.Gradient, p.M, p.V, p.Bf16Copy,
                new AdamWStep(learningRate * p.LearningRateScale, beta1, beta2, eps, p.WeightDecay, bc1, bc2));
        }
        return updates;
    }
}
