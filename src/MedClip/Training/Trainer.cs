using System.Diagnostics;
using System.Text.Json.Nodes;
using MedClip.Autograd;
using MedClip.Data.Loading;
using MedClip.Distributed;
using MedClip.Models;
using MedClip.Optim;
using MedClip.Tensors;

namespace MedClip.Training;

/// <summary>How a run ended.</summary>
public sealed record TrainingSummary(int Steps, double? LastLoss, double? LastValidationLoss, string? LastCheckpoint, bool Interrupted, TimeSpan Elapsed);

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

    /// <param name="filesForCheckpoints">Files copied into every checkpoint (vocab.txt, preprocessor_config.json).</param>
    /// <param name="communicator">The ranks of a data-parallel job; null trains in this process alone.</param>
    public Trainer(TrainingOptions options, DualEncoder model, int contextLength, IReadOnlyList<string> filesForCheckpoints, ITrainingObserver? observer = null,
        ICommunicator? communicator = null)
    {
        options.Validate();
        _communicator = communicator ?? SingleProcessCommunicator.Instance;
        options.ValidateFor(_communicator.WorldSize);
        _options = options;
        _model = model;
        _contextLength = contextLength;
        _filesForCheckpoints = filesForCheckpoints;
        _observer = observer;
        if (options.LockImage) model.Vision.Lock(options.UnlockLast);
        if (options.LockText) model.Text.Lock(options.UnlockLast);
        if (options.LockImage || options.LockText)
        {
            var parameters = model.Parameters().ToList();
            observer?.OnMessage($"Locked towers: {parameters.Where(p => p.RequiresGrad).Sum(p => p.Length):N0} of {parameters.Sum(p => p.Length):N0} parameters train.");
        }
        if (options.Bf16)
        {
            int copies = Nn.Bf16Weights.Attach(model);
            observer?.OnMessage($"bf16 mixed precision: {copies} linear weights keep BF16 copies; GEMMs take BF16 operands with FP32 accumulation and F32 outputs.");
        }
        if (options.UsesFusedAttention)
        {
            model.Config.CheckFusedAttention(model.LogitScale.Backend);
            observer?.OnMessage("Fused attention: FlashAttention-style kernels on the projections, no [tokens x tokens] scores kept.");
        }
        double towerScale = (options.LearningRateTowers ?? options.LearningRate) / options.LearningRate;
        _optimizer = new AdamW(WeightDecayPolicy.Groups(model), options.Beta1, options.Beta2, options.Eps, options.WeightDecay,
            name => DualEncoder.IsTowerParameter(name) ? towerScale : 1.0);
    }

    public int TotalSteps(IBatchSource train) =>
        _options.Steps ?? Math.Max(1, (_options.Epochs ?? 1) * train.BatchesPerEpoch / _options.AccumulationSteps);

    private bool IsRoot => _communicator.Rank == 0;

    private bool IsDistributed => _communicator.WorldSize > 1;

    public TrainingSummary Run(IBatchSource train, IBatchSource? validation, string? resumeFrom, CancellationToken cancel)
    {
        if (train.BatchesPerEpoch == 0)
            throw new InvalidOperationException($"The training split has fewer samples than one batch of {_options.BatchSize}; lower --batch-size or add data.");
        string output = _options.OutputDirectory;
        Directory.CreateDirectory(output);
        var state = new TrainerState { TotalSteps = TotalSteps(train), BatchesPerEpoch = train.BatchesPerEpoch, Seed = _options.Seed };
        if (resumeFrom is not null) state = Resume(resumeFrom, state);
        if (IsDistributed)
        {
            RankAgreement.Check(_communicator, [
                ("model config", RankAgreement.Hash(DualEncoderConfigJson.ToJson(_model.Config, _contextLength).ToJsonString())),
                ("batches per epoch", state.BatchesPerEpoch), ("total steps", state.TotalSteps), ("step to start from", state.GlobalStep),
                ("trainable parameters", _model.Parameters().Where(p => p.RequiresGrad).Sum(p => p.Length))]);
            GradientAverage.BroadcastParameters(_model.Parameters(), _communicator);
        }

        var schedule = new LearningRateSchedule(_options.LearningRate, _options.WarmupSteps, state.TotalSteps);
        if (_options.WarmupSteps >= state.TotalSteps)
            _observer?.OnMessage($"Warning: --warmup {_options.WarmupSteps} is not shorter than the run's {state.TotalSteps} steps, so the learning rate " +
                $"never reaches --lr {_options.LearningRate:G4}; lower --warmup or raise --steps.");
        var clock = Stopwatch.StartNew();
        string? lastCheckpoint = null;
        int nonFinite = 0, imagesSinceLog = 0;
        var window = Stopwatch.StartNew();
        using var metrics = IsRoot ? MetricsReport.Open(output, _options.ReportTo, append: resumeFrom is not null) : null;

        using var batches = MicroBatches(train, state.ConsumedBatches).GetEnumerator();
        while (state.GlobalStep < state.TotalSteps)
        {
            if (StopRequested(cancel))
            {
                if (IsRoot)
                {
                    lastCheckpoint = SaveCheckpoint(state);
                    _observer?.OnMessage($"Interrupted: resumable checkpoint written to {lastCheckpoint}.");
                }
                return new TrainingSummary(state.GlobalStep, state.LastLoss, state.LastValidationLoss, lastCheckpoint, true, clock.Elapsed);
            }

            var stepClock = Stopwatch.StartNew();
            double loss = 0;
            int images = 0;
            for (int micro = 0; micro < _options.AccumulationSteps; micro++)
            {
                if (!batches.MoveNext()) throw new InvalidOperationException("The batch stream ended early.");
                var batch = batches.Current;
                var lossTensor = TrainingLoss(batch);
                var seed = Tensor.Scalar(lossTensor.Backend, 1.0 / _options.AccumulationSteps, lossTensor.DType);
                lossTensor.Backward(seed);
                loss += lossTensor.Item() / _options.AccumulationSteps;
                images += batch.Count * _communicator.WorldSize;
            }
            state = state with { ConsumedBatches = state.ConsumedBatches + _options.AccumulationSteps };
            if (IsDistributed)
            {
                // With --local-loss each rank has its part of the loss; the global loss is their mean (identical values otherwise).
                loss = _communicator.AllReduceSum([loss])[0] / _communicator.WorldSize;
                GradientAverage.Apply(_model.Parameters(), _communicator);
            }

            if (!double.IsFinite(loss))
            {
                _model.ZeroGrad();
                nonFinite++;
                metrics?.Write(new JsonObject { ["step"] = state.GlobalStep, ["loss"] = null, ["skipped"] = "non-finite loss" });
                _observer?.OnMessage($"Step {state.GlobalStep + 1}: loss is {loss}; the step was skipped.");
                if (nonFinite >= _options.MaxNonFiniteSteps)
                {
                    throw new TrainingStoppedException($"Training stopped: {nonFinite} consecutive non-finite losses (lower --lr or check the data); " +
                        (lastCheckpoint is null ? "no checkpoint was written." : $"the last good checkpoint is {lastCheckpoint}."));
                }
                continue;
            }
            nonFinite = 0;

            double gradNorm = GradientClipping.ClipByGlobalNorm(_model.Parameters(), _options.MaxGradNorm);
            double lr = schedule.At(state.GlobalStep);
            _optimizer.Update(lr);
            state = state with { GlobalStep = state.GlobalStep + 1, LastLoss = loss };
            imagesSinceLog += images;

            double logitScale = Math.Exp(Math.Min(_model.LogitScale.Item(), Losses.InfoNceLoss.MaxLogitScale));
            bool last = state.GlobalStep == state.TotalSteps;
            if (metrics is not null && (state.GlobalStep % _options.LogEvery == 0 || last))
            {
                double imagesPerSecond = imagesSinceLog / Math.Max(1e-9, window.Elapsed.TotalSeconds);
                metrics.Write(new JsonObject
                {
                    ["step"] = state.GlobalStep,
                    ["epoch"] = Math.Round((double)state.ConsumedBatches / train.BatchesPerEpoch, 4),
                    ["loss"] = loss,
                    ["lr"] = lr,
                    ["lr_towers"] = lr * (_options.LearningRateTowers ?? _options.LearningRate) / _options.LearningRate,
                    ["logit_scale"] = logitScale,
                    ["grad_norm"] = gradNorm,
                    ["images_per_s"] = Math.Round(imagesPerSecond, 2),
                    ["elapsed_s"] = Math.Round(clock.Elapsed.TotalSeconds, 2),
                });
                imagesSinceLog = 0;
                window.Restart();
            }
            _observer?.OnStep(new StepReport(state.GlobalStep, state.TotalSteps, loss, lr, logitScale, images / Math.Max(1e-9, stepClock.Elapsed.TotalSeconds)));

            if (validation is not null && IsRoot && _options.ValidateEvery > 0 && (state.GlobalStep % _options.ValidateEvery == 0 || last))
            {
                double validationLoss = ValidationLoss(validation);
                state = state with { LastValidationLoss = validationLoss };
                metrics!.Write(new JsonObject { ["step"] = state.GlobalStep, ["val_loss"] = validationLoss });
            }
            if (IsRoot && (state.GlobalStep % _options.CheckpointEvery == 0 || last)) lastCheckpoint = SaveCheckpoint(state);
        }
        return new TrainingSummary(state.GlobalStep, state.LastLoss, state.LastValidationLoss, lastCheckpoint ?? CheckpointStore.Latest(output), false, clock.Elapsed);
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
            sum += ForwardLoss(batch).Item() * batch.Count;
            count += batch.Count;
        }
        return count == 0 ? double.NaN : sum / count;
    }

    private Tensor ForwardLoss(Batch batch)
    {
        var (pixels, ids, mask) = BatchTensors.From(batch, _model.LogitScale.Backend, _model.Config.Vision.ImageSize, _contextLength);
        using var autocast = Autocast.Bf16(_options.Bf16);
        using var attention = FusedAttention.Enable(_options.UsesFusedAttention);
        return _model.Loss(pixels, ids, mask);
    }

    // The training loss of this rank's slice: the global batch's InfoNCE loss when data parallel.
    private Tensor TrainingLoss(Batch batch)
    {
        if (!IsDistributed) return ForwardLoss(batch);
        var (pixels, ids, mask) = BatchTensors.From(batch, _model.LogitScale.Backend, _model.Config.Vision.ImageSize, _contextLength);
        using var autocast = Autocast.Bf16(_options.Bf16);
        using var attention = FusedAttention.Enable(_options.UsesFusedAttention);
        return Losses.DistributedInfoNceLoss.Compute(_model.EncodeImages(pixels), _model.EncodeTexts(ids, mask), _model.LogitScale, _communicator, _options.LocalLoss);
    }

    // Cancellation (Ctrl-C) reaches the ranks at different moments; they agree on it before each step so that all stop at the same one.
    private bool StopRequested(CancellationToken cancel)
    {
        double flag = cancel.IsCancellationRequested ? 1 : 0;
        return IsDistributed ? _communicator.AllReduceSum([flag])[0] > 0 : flag > 0;
    }

    // Micro-batches from a position counted from the start of training, crossing epoch boundaries.
    private static IEnumerable<Batch> MicroBatches(IBatchSource source, long consumed)
    {
        int epoch = (int)(consumed / source.BatchesPerEpoch);
        int start = (int)(consumed % source.BatchesPerEpoch);
        while (true)
        {
            foreach (var batch in source.Epoch(epoch, start)) yield return batch;
            epoch++;
            start = 0;
        }
    }

    private TrainerState Resume(string from, TrainerState fresh)
    {
        string checkpoint = CheckpointStore.Latest(from)
            ?? throw new DirectoryNotFoundException($"'{from}' holds no checkpoint to resume from.");
        CheckpointWeights.Load(_model, checkpoint);
        CheckpointStore.LoadOptimizer(checkpoint, _optimizer);
        var saved = TrainerState.Read(Path.Combine(checkpoint, CheckpointStore.StateFile));
        if (saved.BatchesPerEpoch != fresh.BatchesPerEpoch || saved.Seed != fresh.Seed)
        {
            throw new InvalidOperationException(
                $"'{checkpoint}' was trained with {saved.BatchesPerEpoch} batches per epoch and seed {saved.Seed}; this run has {fresh.BatchesPerEpoch} and {fresh.Seed}. Resume with the same data, --batch-size and --seed.");
        }
        _observer?.OnMessage($"Resuming from {checkpoint} at step {saved.GlobalStep}.");
        return saved with { TotalSteps = fresh.TotalSteps };
    }

    private string SaveCheckpoint(TrainerState state) =>
        CheckpointStore.Save(_options.OutputDirectory, _model, _contextLength, _optimizer, state, _filesForCheckpoints, _options.KeepCheckpoints);
}
