using System.Text.Json.Serialization;
using MedClip.Autograd;

namespace MedClip.Training;

/// <summary>Every option of a training run, in one place (open_clip's params.py). Saved as the run's config.</summary>
public sealed record TrainingOptions
{
    public string Data { get; init; } = "synthetic";
    /// <summary>How the dataset is read: views, report sections, label source, uncertain labels, manifest columns.</summary>
    public MedClip.Data.DatasetOptions DataOptions { get; init; } = new();
    public string Model { get; init; } = "tiny";
    public string? ImageEncoder { get; init; }
    public string? TextEncoder { get; init; }
    public string Device { get; init; } = "auto";
    /// <summary>fp32, or bf16: mixed precision (<see cref="Precision.Bf16"/>), F32 master weights and AdamW state.</summary>
    public Precision Precision { get; init; } = Precision.Fp32;
    /// <summary>gemm (permutes, batched GEMMs, masked softmax) or fused (<see cref="AttentionKind.Fused"/>).</summary>
    public AttentionKind Attention { get; init; } = AttentionKind.Gemm;
    /// <summary>The run's compute policy, handed to the model and the trainer.</summary>
    [JsonIgnore]
    public ComputePolicy Compute => new(Precision, Attention);

    /// <summary>
    /// Pairs per optimizer micro-step for the whole job: in data-parallel training the global batch, split evenly
    /// over the ranks, and the contrastive loss sees all of it.
    /// </summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>
    /// Data parallel: each rank computes the loss of only its own rows against the global batch's columns (open_clip's
    /// --local-loss), n x B logits instead of B x B; the gradient is the same.
    /// </summary>
    public bool LocalLoss { get; init; }
    /// <summary>Micro-batches whose gradients are summed before one optimizer step.</summary>
    public int AccumulationSteps { get; init; } = 1;
    /// <summary>Total optimizer steps; when null, <see cref="Epochs"/> decides.</summary>
    public int? Steps { get; init; }
    public int? Epochs { get; init; }
    public double LearningRate { get; init; } = 5e-4;
    /// <summary>Peak learning rate of the two towers; null uses <see cref="LearningRate"/> (which the projections and logit scale always use).</summary>
    public double? LearningRateTowers { get; init; }
    /// <summary>Freeze the image tower (LiT), except its last <see cref="UnlockLast"/> layers.</summary>
    public bool LockImage { get; init; }
    /// <summary>Freeze the text tower, except its last <see cref="UnlockLast"/> layers.</summary>
    public bool LockText { get; init; }
    /// <summary>Layers at the top of a locked tower that stay trainable, with the norm and pooler after them.</summary>
    public int UnlockLast { get; init; }
    /// <summary>
    /// Bottleneck dimension of adapters in every layer of both towers (<see cref="MedClip.Nn.Adapter"/>); when positive, only
    /// the adapters, layer norms, projections and logit scale train. 0: no adapters.
    /// </summary>
    public int Adapters { get; init; }
    /// <summary>
    /// Words of the training reports added to the pretrained text encoder's vocabulary (<see cref="MedClip.Data.Text.VocabularyExtension"/>);
    /// needs <see cref="TextEncoder"/>. 0: the vocabulary as it is.
    /// </summary>
    public int ExtendVocab { get; init; }
    public int WarmupSteps { get; init; } = 50;
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.98;
    public double Eps { get; init; } = 1e-6;
    public double MaxGradNorm { get; init; } = 1.0;
    public int Seed { get; init; } = 0;
    public string OutputDirectory { get; init; } = "runs/default";
    public int LogEvery { get; init; } = 10;
    /// <summary>Where logged metrics go: <see cref="MetricsReport.Jsonl"/> and/or <see cref="MetricsReport.TensorBoard"/>.</summary>
    public string[] ReportTo { get; init; } = [MetricsReport.Jsonl];
    /// <summary>Steps between validations (and always the last step); 0 turns validation off.</summary>
    public int ValidateEvery { get; init; } = 200;
    public int CheckpointEvery { get; init; } = 500;
    public int KeepCheckpoints { get; init; } = 2;
    /// <summary>Consecutive non-finite losses after which training stops.</summary>
    public int MaxNonFiniteSteps { get; init; } = 5;
    public int Workers { get; init; } = Environment.ProcessorCount;
    /// <summary>Side of the square input images; null keeps the preset's or the pretrained image tower's.</summary>
    public int? ImageSize { get; init; }
    public bool Augment { get; init; } = true;
    /// <summary>
    /// The probability that each sentence of a training report is kept, with or without image augmentation (<see cref="MedClip.Data.Text.SentenceSampling"/>);
    /// 1 trains on whole reports.
    /// </summary>
    public double SentenceKeepProbability { get; init; } = 1.0;
    /// <summary>
    /// The probability that each sentence of a training report loses its final period (<see cref="MedClip.Data.Text.SentenceSampling"/>);
    /// 0 keeps the punctuation as written.
    /// </summary>
    public double PeriodDropProbability { get; init; }
    /// <summary>Size of the generated dataset when <see cref="Data"/> is "synthetic".</summary>
    public int SyntheticStudies { get; init; } = MedClip.Data.DatasetSpec.DefaultSyntheticStudies;

    /// <summary>
    /// Checks every option value for a job of <paramref name="worldSize"/> ranks (1 in one process), throwing an
    /// <see cref="ArgumentException"/> whose message names the option. Called where a command reads its options.
    /// </summary>
    public void Validate(int worldSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(worldSize, 1);
        if (BatchSize < 2) throw new ArgumentException($"--batch-size {BatchSize}: the contrastive loss needs at least 2 pairs per batch.");
        if (AccumulationSteps < 1) throw new ArgumentException($"--accumulation-steps {AccumulationSteps} must be at least 1.");
        if (Steps is <= 0) throw new ArgumentException($"--steps {Steps} must be positive.");
        if (Epochs is <= 0) throw new ArgumentException($"--epochs {Epochs} must be positive.");
        if (LearningRate <= 0 || !double.IsFinite(LearningRate)) throw new ArgumentException($"--lr {LearningRate} must be a positive number.");
        if (LearningRateTowers is { } towers && (towers <= 0 || !double.IsFinite(towers))) throw new ArgumentException($"--lr-towers {towers} must be a positive number.");
        if (UnlockLast < 0) throw new ArgumentException($"--unlock-last {UnlockLast} must not be negative.");
        if (UnlockLast > 0 && !LockImage && !LockText && Adapters == 0)
            throw new ArgumentException("--unlock-last only applies together with --lock-image, --lock-text or --adapters.");
        if (ExtendVocab < 0) throw new ArgumentException($"--extend-vocab {ExtendVocab} must be positive (the number of words to add).");
        if (ExtendVocab > 0 && TextEncoder is null)
            throw new ArgumentException("--extend-vocab extends a pretrained vocabulary and needs --text-encoder; a vocabulary built from the reports already holds their words.");
        if (Adapters < 0) throw new ArgumentException($"--adapters {Adapters} must be positive (the adapters' bottleneck dimension).");
        if (!(SentenceKeepProbability > 0 && SentenceKeepProbability <= 1))
            throw new ArgumentException($"--sentence-keep {SentenceKeepProbability} must be in (0, 1]; 1 trains on whole reports.");
        if (!(PeriodDropProbability >= 0 && PeriodDropProbability <= 1))
            throw new ArgumentException($"--drop-periods {PeriodDropProbability} must be in [0, 1]; 0 keeps every period.");
        if (WarmupSteps < 0) throw new ArgumentException($"--warmup {WarmupSteps} must not be negative.");
        if (!(WeightDecay >= 0 && double.IsFinite(WeightDecay))) throw new ArgumentException($"--wd {WeightDecay} must be a number of at least 0.");
        if (Workers < 1) throw new ArgumentException($"--workers {Workers} must be at least 1.");
        if (LogEvery < 1) throw new ArgumentException($"--log-every {LogEvery} must be at least 1.");
        if (ValidateEvery < 0) throw new ArgumentException($"--val-every {ValidateEvery} must not be negative; 0 turns validation off.");
        if (ImageSize is <= 0) throw new ArgumentException($"--image-size {ImageSize} must be a positive number of pixels.");
        MetricsReport.Parse(string.Join(',', ReportTo));
        if (CheckpointEvery < 1) throw new ArgumentException($"--save-every {CheckpointEvery} must be at least 1.");
        if (KeepCheckpoints < 1) throw new ArgumentException($"--keep-checkpoints {KeepCheckpoints} must be at least 1.");
        if (BatchSize % worldSize != 0)
            throw new ArgumentException($"--batch-size {BatchSize} is the global batch and must be divisible by the {worldSize} ranks; use a multiple of {worldSize}.");
    }
}
