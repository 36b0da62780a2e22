using System.Diagnostics;
using MedClip.Autograd;
using MedClip.Data.Loading;
using MedClip.Distributed;
using MedClip.Models;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Training;

/// <summary>How a run ended.</summary>
public sealed record TrainingSummary(int Steps, double? LastLoss, double? LastValidationLoss, string? LastCheckpoint, bool Interrupted, TimeSpan Elapsed)
{
    /// <summary>Training samples skipped while loading, by reason, over the whole run (resumes included).</summary>
    public IReadOnlyDictionary<string, long> Skipped { get; init; } = new Dictionary<string, long>();
}

/// <summary>Training stopped on purpose with a reason the user should read (e.g. repeated non-finite losses).</summary>
public sealed class TrainingStoppedException(string message) : Exception(message);

/// <summary>
/// The training loop: micro-batches -> InfoNCE loss -> backward (gradients summed over the accumulation steps) ->
/// global-norm clip -> AdamW with warm-up + cosine learning rate (towers optionally locked or on their own peak rate). Logs metrics.jsonl, validates and checkpoints
/// periodically, and on cancellation writes a resumable checkpoint before returning. Resuming restores weights,
/// optimizer moments, the step and the data position, so on the CPU the continued run repeats the uninterrupted one.
/// Data parallel (a communicator with several ranks): each rank trains on its slice of every global batch, the loss is
/// the InfoNCE loss of the global batch (<see cref="Losses.DistributedInfoNceLoss"/>), gradients are averaged over the ranks
/// before clipping, and only rank 0 logs, validates and writes checkpoints; every rank resumes from the same checkpoint.
/// A step does not wait for the device: its loss, and whether it was skipped for a non-finite loss or gradient norm,
/// stay in a <see cref="StepLedger"/> there until a metrics line, a validation or a checkpoint is due.
/// </summary>
public sealed class Trainer
{
    private readonly TrainingOptions _options;
    private readonly DualEncoder _model;
    private readonly int _contextLength;
    private readonly IReadOnlyList<string> _filesForCheckpoints;
    private readonly ITrainingObserver? _observer;
    private readonly AdamW _optimizer;
    private readonly ICommunicator _communicator;
    private readonly long _trainableParameters, _totalParameters;
    private readonly string? _dataSha256;

    /// <param name="filesForCheckpoints">Files copied into every checkpoint (vocab.txt, preprocessor_config.json).</param>
    /// <param name="communicator">The ranks of a data-parallel job; null trains in this process alone.</param>
    /// <param name="dataSha256">The training data's listing hash (<see cref="TrainerState.ListingSha256"/>), recorded in checkpoints and checked on resume.</param>
    public Trainer(TrainingOptions options, DualEncoder model, int contextLength, IReadOnlyList<string> filesForCheckpoints, ITrainingObserver? observer = null,
        ICommunicator? communicator = null, string? dataSha256 = null)
    {
        // The options are validated where they are read (TrainingOptions.Validate); these guard the trainer's own invariants.
        ArgumentOutOfRangeException.ThrowIfLessThan(options.AccumulationSteps, 1); // every step draws a micro-batch
        if (options.Adapters != model.Config.AdapterDim)
            throw new ArgumentException($"The options ask for adapters of dimension {options.Adapters}, but the model was built with {model.Config.AdapterDim}.", nameof(model));
        if (model.Compute != options.Compute)
            throw new ArgumentException($"The model was built for {model.Compute}, but the options ask for {options.Compute}.", nameof(model));
        _dataSha256 = dataSha256;
        _communicator = communicator ?? SingleProcessCommunicator.Instance;
        _options = options;
        _model = model;
        _contextLength = contextLength;
        _filesForCheckpoints = filesForCheckpoints;
        _observer = observer;
        bool adapters = options.Adapters > 0;
        if (options.LockImage || adapters) model.Vision.Lock(options.UnlockLast);
        if (options.LockText || adapters) model.Text.Lock(options.UnlockLast);
        if (adapters) Nn.TowerLock.UnlockAdaptersAndNorms(model);
        var named = model.NamedParameters().ToList();
        _trainableParameters = named.Where(p => p.Tensor.RequiresGrad).Sum(p => p.Tensor.Length);
        _totalParameters = named.Sum(p => p.Tensor.Length);
        if (options.LockImage || options.LockText || adapters)
        {
            long adapterParameters = named.Where(p => p.Name.Contains(".adapter.", StringComparison.Ordinal)).Sum(p => p.Tensor.Length);
            observer?.OnMessage($"{(adapters ? $"Adapters of dimension {options.Adapters}" : "Locked towers")}: {_trainableParameters:N0} of {_totalParameters:N0} parameters train" +
                (adapters ? $" ({adapterParameters:N0} of them in adapters)." : "."));
        }
        if (options.Precision == Precision.Bf16)
        {
            int copies = Nn.Bf16Weights.Attach(model);
            observer?.OnMessage($"bf16 mixed precision: {copies} linear weights keep BF16 copies; GEMMs take BF16 operands with FP32 accumulation and F32 outputs.");
        }
        if (options.Attention == AttentionKind.Fused)
            observer?.OnMessage("Fused attention: FlashAttention-style kernels on the projections, no [tokens x tokens] scores kept.");
        double towerScale = (options.LearningRateTowers ?? options.LearningRate) / options.LearningRate;
        _optimizer = new AdamW(WeightDecayPolicy.Groups(model), options.Beta1, options.Beta2, options.Eps, options.WeightDecay,
            name => DualEncoder.IsTowerParameter(name) ? towerScale : 1.0);
    }

    public int TotalSteps(IBatchSource train) =>
        _options.Steps ?? Math.Max(1, (_options.Epochs ?? 1) * train.BatchesPerEpoch / _options.AccumulationSteps);

    private bool IsRoot => _communicator.Rank == 0;

    private bool IsDistributed => _communicator.WorldSize > 1;

    /// <summary>
    /// Trains up to the total steps, or until <paramref name="cancel"/> (then writes a resumable checkpoint). A full disk
    /// stops the run with a <see cref="TrainingStoppedException"/> naming the last complete checkpoint.
    /// </summary>
    public TrainingSummary Run(IBatchSource train, IBatchSource? validation, string? resumeFrom, CancellationToken cancel)
    {
        if (train.BatchesPerEpoch == 0) // TrainingRun refuses such data in a sentence; here it would loop forever over empty epochs
            throw new ArgumentException("The training source has no batch in an epoch.", nameof(train));
        try
        {
            return RunSteps(train, validation, resumeFrom, cancel);
        }
        catch (IOException e) when (IO.DiskFull.Is(e))
        {
            string? good = CheckpointStore.Latest(_options.OutputDirectory);
            throw new TrainingStoppedException($"Training stopped: the disk is full ({e.Message}); " + (good is null
                ? "no checkpoint was written."
                : $"the last good checkpoint is {good}: free some space and continue with --resume {_options.OutputDirectory}."));
        }
    }

    private TrainingSummary RunSteps(IBatchSource train, IBatchSource? validation, string? resumeFrom, CancellationToken cancel)
    {
        Directory.CreateDirectory(_options.OutputDirectory);
        var state = StartingState(train, resumeFrom);
        var schedule = Schedule(state.TotalSteps);
        var clock = Stopwatch.StartNew();
        var collapse = new CollapseWarning(_observer);
        using var log = IsRoot ? new StepLog(_options, train.BatchesPerEpoch, resumeFrom is null ? null : state.GlobalStep) : null;
        var ledger = new StepLedger(_model.Backend, LearningRates(schedule, state.TotalSteps), _optimizer.Step, state.GlobalStep, state.LastLoss,
            LedgerCapacity);
        var run = new RunProgress(ledger, _optimizer, new NonFiniteSteps(_options, _observer), log);
        int imagesSinceReport = 0, unread = 0;

        using var batches = MicroBatches(train, state).GetEnumerator();
        while (state.GlobalStep < state.TotalSteps)
        {
            if (StopRequested(cancel)) return Interrupted(run.Reconciled(state), run, clock.Elapsed);
            using var stepMemory = _model.Backend.OpenScope(); // the step's activations and gradients end with it

            var stepClock = Stopwatch.StartNew();
            if (AccumulateGradients(batches, state, ledger, cancel) is not { } step) return Interrupted(run.Reconciled(state), run, clock.Elapsed);
            // Counted as applied until a read of the ledger says otherwise: a step whose loss or gradient norm is not finite
            // is skipped on the device (the weights stay as they were), and several in a row stop the run.
            state = step.State with { GlobalStep = state.GlobalStep + 1 };
            var sumSquares = GradientClipping.ClipByGlobalNorm(_model.Parameters(), _options.MaxGradNorm) ?? Tensor.Zeros(_model.Backend, new Shape());
            ledger.Close(sumSquares);
            _optimizer.Update(ledger);
            imagesSinceReport += step.Images;
            if (!ReadDue(state, ++unread)) continue;

            unread = 0;
            var reading = ledger.Read(); // the step's one wait for the device
            state = run.Reconciled(state, reading);
            if (reading.LastSkipped) continue;
            ReportStep(state, reading, schedule.At(state.GlobalStep - 1), step.Images, imagesSinceReport, stepClock.Elapsed, clock.Elapsed, collapse, log);
            imagesSinceReport = 0;
            if (validation is not null && log is not null && _options.ValidateEvery > 0 && state.IsDue(_options.ValidateEvery))
                state = Validated(state, validation, log);
            if (IsRoot && state.IsDue(_options.CheckpointEvery)) run.LastCheckpoint = SaveCheckpoint(state);
        }
        return Summary(state, run.LastCheckpoint ?? CheckpointStore.Latest(_options.OutputDirectory), interrupted: false, clock.Elapsed);
    }

    // Skipped steps the device records between two reads of the ledger; the host reads it at least this often.
    private int LedgerCapacity => Math.Min(_options.LogEvery, 1024);

    // The host reads the ledger when a metrics line, a validation or a checkpoint may be due (the run's last step
    // included), judged by the step count that takes every step since the last read as applied; that count is never
    // behind the true one, so no due step is passed over. And before the ledger's records of skipped steps could fill.
    private bool ReadDue(TrainerState assumed, int unread) =>
        assumed.IsDue(_options.LogEvery) || assumed.IsDue(_options.CheckpointEvery) || (_options.ValidateEvery > 0 && assumed.IsDue(_options.ValidateEvery))
        || unread >= LedgerCapacity;

    // The learning rate of every step, by steps applied before it: the table AdamW reads on the device.
    private static double[] LearningRates(LearningRateSchedule schedule, int totalSteps) =>
        [.. Enumerable.Range(0, totalSteps).Select(schedule.At)];

    // A run's device ledger, its skipped-step reports and its last checkpoint: what a read of the ledger brings up to date.
    private sealed class RunProgress(StepLedger ledger, AdamW optimizer, NonFiniteSteps nonFinite, StepLog? log)
    {
        public string? LastCheckpoint { get; set; }

        public TrainerState Reconciled(TrainerState state) => Reconciled(state, ledger.Read());

        // The state as the ledger has it (skipped steps did not count; AdamW's t likewise), after reporting the skipped steps.
        public TrainerState Reconciled(TrainerState state, StepLedgerReading reading)
        {
            nonFinite.Report(reading.Skipped, LastCheckpoint, log);
            optimizer.RestoreStep(reading.Updates);
            return state with { GlobalStep = reading.Steps, LastLoss = reading.AppliedLoss };
        }
    }

    // The micro-batches of one optimizer step, their gradients summed into the parameters, and the state after them.
    private sealed record AccumulatedStep(TrainerState State, int Images);

    // The state the run starts from: a fresh one, or the checkpoint's when resuming; data parallel, every rank checks that
    // all agree on it and takes rank 0's weights.
    private TrainerState StartingState(IBatchSource train, string? resumeFrom)
    {
        var state = new TrainerState
        {
            TotalSteps = TotalSteps(train), BatchesPerEpoch = train.BatchesPerEpoch, Seed = _options.Seed,
            TrainableParameters = _trainableParameters, TotalParameters = _totalParameters, DataSha256 = _dataSha256,
        };
        if (resumeFrom is not null) state = Resume(resumeFrom, state);
        if (IsDistributed)
        {
            RankAgreement.Check(_communicator, [
                ("model config", RankAgreement.Hash(DualEncoderConfigJson.ToJson(_model.Config, _contextLength).ToJsonString())),
                ("batches per epoch", state.BatchesPerEpoch), ("total steps", state.TotalSteps), ("step to start from", state.GlobalStep),
                ("trainable parameters", _model.Parameters().Where(p => p.RequiresGrad).Sum(p => p.Length))]);
            GradientAverage.BroadcastParameters(_model.Parameters(), _communicator);
        }
        return state;
    }

    private LearningRateSchedule Schedule(int totalSteps)
    {
        if (_options.WarmupSteps >= totalSteps)
            _observer?.OnMessage($"Warning: --warmup {_options.WarmupSteps} is not shorter than the run's {totalSteps} steps, so the learning rate " +
                $"never reaches --lr {_options.LearningRate:G4}; lower --warmup or raise --steps.");
        return new LearningRateSchedule(_options.LearningRate, _options.WarmupSteps, totalSteps);
    }

    // Forward and backward over the step's micro-batches; the loss is their mean, added up in the ledger on the device
    // (data parallel: over the ranks too, on the host, where the gradients are averaged). Null when cancelled while the
    // loader waited for a batch.
    private AccumulatedStep? AccumulateGradients(IEnumerator<Batch> batches, TrainerState state, StepLedger ledger, CancellationToken cancel)
    {
        double rankLoss = 0;
        int images = 0;
        var consumed = state; // the data position and skip counts move with the step, not before it completes
        for (int micro = 0; micro < _options.AccumulationSteps; micro++)
        {
            if (NextBatch(batches, cancel) is not { } batch) return null;
            consumed = consumed.After(batch);
            var loss = Step(batch);
            if (IsDistributed) rankLoss += loss.Item() / _options.AccumulationSteps;
            else ledger.AddLoss(loss, _options.AccumulationSteps, first: micro == 0);
            images += batch.Count * _communicator.WorldSize;
        }
        if (IsDistributed)
        {
            // With --local-loss each rank has its part of the loss; the global loss is their mean (identical values otherwise).
            double loss = _communicator.AllReduceSum([rankLoss])[0] / _communicator.WorldSize;
            ledger.AddLoss(Tensor.Scalar(_model.Backend, loss, DType.F64), 1, first: true);
            GradientAverage.Apply(_model.Parameters(), _communicator);
        }
        return new AccumulatedStep(consumed with { ConsumedBatches = state.ConsumedBatches + _options.AccumulationSteps }, images);
    }

    // The next micro-batch, or null when cancelled while the loader was waiting on a slow or blocked file.
    private static Batch? NextBatch(IEnumerator<Batch> batches, CancellationToken cancel)
    {
        try
        {
            if (!batches.MoveNext()) throw new InvalidOperationException("The batch stream ended early.");
            return batches.Current;
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return null;
        }
    }

    // An applied step the ledger was read after: the collapse warnings, its metrics line (when due) and the observer's
    // progress report. Reading the logit scale is the one other wait for the device.
    private void ReportStep(TrainerState state, StepLedgerReading reading, double lr, int stepImages, int imagesSinceReport, TimeSpan stepTime,
        TimeSpan elapsed, CollapseWarning collapse, StepLog? log)
    {
        double gradNorm = Math.Sqrt(reading.SumSquares);
        double rawLogitScale = _model.LogitScale.Item();
        double logitScale = Math.Exp(Math.Min(rawLogitScale, Losses.InfoNceLoss.MaxLogitScale));
        collapse.Check(rawLogitScale, gradNorm, state.GlobalStep);
        log?.Step(state, reading.Loss, lr, logitScale, gradNorm, imagesSinceReport, elapsed);
        _observer?.OnStep(new StepReport(state.GlobalStep, state.TotalSteps, reading.Loss, lr, logitScale, stepImages / Math.Max(1e-9, stepTime.TotalSeconds)));
    }

    // Rank 0's validation loss after this step, logged; a non-finite one is kept in the state as null and training goes on.
    private TrainerState Validated(TrainerState state, IBatchSource validation, StepLog log)
    {
        double validationLoss = ValidationLoss(validation);
        if (!double.IsFinite(validationLoss))
            _observer?.OnMessage($"Step {state.GlobalStep}: the validation loss is {validationLoss}; it is logged as null and training goes on.");
        log.Validation(state.GlobalStep, validationLoss);
        return state with { LastValidationLoss = double.IsFinite(validationLoss) ? validationLoss : null };
    }

    // A stop between steps or while the loader waited: the cut-short step's partial gradients are cleared (the weights are
    // still the last step's) and rank 0 writes a resumable checkpoint. The state is the ledger's (read by the caller).
    private TrainingSummary Interrupted(TrainerState state, RunProgress run, TimeSpan elapsed)
    {
        _model.ZeroGrad();
        string? checkpoint = null;
        if (IsRoot)
        {
            checkpoint = run.LastCheckpoint = SaveCheckpoint(state);
            _observer?.OnMessage($"Interrupted: resumable checkpoint written to {checkpoint}.");
        }
        return Summary(state, checkpoint, interrupted: true, elapsed);
    }

    private static TrainingSummary Summary(TrainerState state, string? lastCheckpoint, bool interrupted, TimeSpan elapsed) =>
        new(state.GlobalStep, state.LastLoss, state.LastValidationLoss, lastCheckpoint, interrupted, elapsed) { Skipped = state.Skipped };

    // One micro-batch: this rank's training loss (the global batch's when data parallel) and its backward, adding
    // 1 / accumulation steps of the gradient into the parameters' gradients. Returns the loss, left on the device.
    private Tensor Step(Batch batch)
    {
        var loss = TrainingLoss(batch);
        loss.Backward(Tensor.Scalar(loss.Backend, 1.0 / _options.AccumulationSteps, loss.DType));
        return loss;
    }

    /// <summary>Mean InfoNCE loss over the validation batches, without gradients.</summary>
    public double ValidationLoss(IBatchSource validation)
    {
        using var noGrad = GradMode.Disable();
        double sum = 0;
        int count = 0;
        foreach (var batch in validation.Epoch(0, 0))
        {
            if (batch.Count < 2) continue;
            using var batchMemory = _model.Backend.OpenScope();
            sum += ForwardLoss(batch).Item() * batch.Count;
            count += batch.Count;
        }
        return count == 0 ? double.NaN : sum / count;
    }

    private Tensor ForwardLoss(Batch batch)
    {
        var (pixels, ids, mask) = Upload(batch);
        return _model.Loss(pixels, ids, mask);
    }

    // The training loss of this rank's slice: the global batch's InfoNCE loss when data parallel.
    private Tensor TrainingLoss(Batch batch)
    {
        if (!IsDistributed) return ForwardLoss(batch);
        var (pixels, ids, mask) = Upload(batch);
        return _model.Loss(pixels, ids, mask, _communicator, _options.LocalLoss);
    }

    private (Tensor Pixels, Tensor Ids, Tensor Mask) Upload(Batch batch) =>
        BatchTensors.From(batch, _model.Backend, _model.Config.Vision.ImageSize, _contextLength);

    // Cancellation (Ctrl-C) reaches the ranks at different moments; they agree on it before each step so that all stop at the same one.
    private bool StopRequested(CancellationToken cancel)
    {
        double flag = cancel.IsCancellationRequested ? 1 : 0;
        return IsDistributed ? _communicator.AllReduceSum([flag])[0] > 0 : flag > 0;
    }

    // Micro-batches from where the state stands, crossing epoch boundaries: from the item position after the last
    // consumed batch when the source tracks positions (exact with skipped items), else from the count of consumed batches.
    private static IEnumerable<Batch> MicroBatches(IBatchSource source, TrainerState state)
    {
        bool byPosition = state.EpochPosition is not null;
        int epoch = byPosition ? state.Epoch : (int)(state.ConsumedBatches / source.BatchesPerEpoch);
        int start = state.EpochPosition ?? (int)(state.ConsumedBatches % source.BatchesPerEpoch);
        while (true)
        {
            foreach (var batch in byPosition ? source.EpochFromPosition(epoch, start) : source.Epoch(epoch, start)) yield return batch;
            epoch++;
            start = 0;
        }
    }

    private TrainerState Resume(string from, TrainerState fresh)
    {
        string checkpoint = CheckpointStore.Latest(from)
            ?? throw new DirectoryNotFoundException($"'{from}' holds no checkpoint to resume from.");
        int savedAdapters = DualEncoderConfigJson.Read(Path.Combine(checkpoint, CheckpointStore.ConfigFile)).Config.AdapterDim;
        if (savedAdapters != _options.Adapters)
        {
            throw new InvalidDataException(savedAdapters == 0
                ? $"'{checkpoint}' was trained without adapters; resume it without --adapters."
                : $"'{checkpoint}' was trained with --adapters {savedAdapters}; resume it with --adapters {savedAdapters}.");
        }
        var saved = TrainerState.Read(Path.Combine(checkpoint, CheckpointStore.StateFile));
        saved.CheckContinuedBy(fresh, checkpoint);
        CheckpointWeights.Load(_model, checkpoint);
        CheckpointStore.LoadOptimizer(checkpoint, _optimizer);
        _observer?.OnMessage($"Resuming from {checkpoint} at step {saved.GlobalStep}.");
        return saved with
        {
            TotalSteps = fresh.TotalSteps, TrainableParameters = fresh.TrainableParameters, TotalParameters = fresh.TotalParameters,
            DataSha256 = saved.DataSha256 ?? fresh.DataSha256,
        };
    }

    private string SaveCheckpoint(TrainerState state) =>
        CheckpointStore.Save(_options.OutputDirectory, _model, _contextLength, _optimizer, state, _filesForCheckpoints, _options.KeepCheckpoints);
}
