using System.Text.Json;
using System.Text.Json.Serialization;
using MedClip.IO;

namespace MedClip.Training;

/// <summary>Where a run stands (trainer_state.json beside each checkpoint): enough to continue it exactly.</summary>
public sealed record TrainerState
{
    /// <summary>Optimizer steps completed.</summary>
    [JsonPropertyName("global_step")] public int GlobalStep { get; init; }
    /// <summary>Micro-batches drawn from the training stream so far (skipped non-finite steps included).</summary>
    [JsonPropertyName("consumed_batches")] public long ConsumedBatches { get; init; }
    /// <summary>The epoch and the position in its item order (skipped items included) after the last consumed batch: an exact resume point. Null position: resume by <see cref="ConsumedBatches"/>.</summary>
    [JsonPropertyName("epoch")] public int Epoch { get; init; }
    [JsonPropertyName("epoch_position")] public int? EpochPosition { get; init; }
    /// <summary>Training samples skipped while loading, by reason, over the whole run (resumes included).</summary>
    [JsonPropertyName("skipped")] public IReadOnlyDictionary<string, long> Skipped { get; init; } = new Dictionary<string, long>();
    [JsonPropertyName("total_steps")] public int TotalSteps { get; init; }
    [JsonPropertyName("batches_per_epoch")] public int BatchesPerEpoch { get; init; }
    [JsonPropertyName("seed")] public int Seed { get; init; }
    [JsonPropertyName("last_loss")] public double? LastLoss { get; init; }
    [JsonPropertyName("last_validation_loss")] public double? LastValidationLoss { get; init; }
    /// <summary>Parameters the optimizer updates (fewer than the total with locked towers or adapters).</summary>
    [JsonPropertyName("trainable_parameters")] public long TrainableParameters { get; init; }
    [JsonPropertyName("total_parameters")] public long TotalParameters { get; init; }

    /// <summary>SHA-256 of the training split's listing (<see cref="ListingSha256"/>); null in checkpoints written before it was recorded.</summary>
    [JsonPropertyName("data_sha256")] public string? DataSha256 { get; init; }

    /// <summary>The listing a resumed run must see again: each training sample's image file name and text, in order.</summary>
    public static string ListingSha256(IEnumerable<(string ImagePath, string Text)> samples)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var (image, text) in samples) hash.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetFileName(image) + '\t' + text + '\n'));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The state after consuming <paramref name="batch"/>: its position, if the source tracks one, and the items skipped before it.</summary>
    public TrainerState After(Data.Loading.Batch batch)
    {
        var skipped = Skipped;
        if (batch.SkippedBefore.Count > 0)
        {
            var counts = new Dictionary<string, long>(Skipped);
            foreach (string reason in batch.SkippedBefore) counts[reason] = counts.GetValueOrDefault(reason) + 1;
            skipped = counts;
        }
        return this with { Epoch = batch.EndPosition is null ? Epoch : batch.Epoch, EpochPosition = batch.EndPosition ?? EpochPosition, Skipped = skipped };
    }

    /// <summary>Whether something done every <paramref name="every"/> steps and at the last is due after this step.</summary>
    public bool IsDue(int every) => GlobalStep % every == 0 || GlobalStep == TotalSteps;

    /// <summary>Throws one sentence when <paramref name="fresh"/> (this run's data and options) cannot continue this saved state exactly.</summary>
    public void CheckContinuedBy(TrainerState fresh, string checkpoint)
    {
        if (DataSha256 is not null && fresh.DataSha256 is not null && DataSha256 != fresh.DataSha256)
            throw new InvalidDataException($"'{checkpoint}' was trained on other data (its listing hash differs from this run's); resume with the run's --data and data options.");
        if (BatchesPerEpoch != fresh.BatchesPerEpoch || Seed != fresh.Seed)
            throw new InvalidDataException($"'{checkpoint}' was trained with {BatchesPerEpoch} batches per epoch and seed {Seed}; this run has {fresh.BatchesPerEpoch} and {fresh.Seed}. " +
                "Resume with the same data, --batch-size and --seed.");
    }

    // A hand-edited state must not train at negative learning rates or from a position before the start.
    private void Validate(string path)
    {
        string? problem = GlobalStep < 0 ? $"global_step is {GlobalStep}; it must not be negative"
            : ConsumedBatches < GlobalStep ? $"consumed_batches is {ConsumedBatches}; it must be at least global_step ({GlobalStep})"
            : TotalSteps < 0 ? $"total_steps is {TotalSteps}; it must not be negative"
            : BatchesPerEpoch < 1 ? $"batches_per_epoch is {BatchesPerEpoch}; it must be at least 1"
            : Epoch < 0 || EpochPosition < 0 ? $"epoch {Epoch} and epoch_position {EpochPosition} must not be negative"
            : Skipped.Values.Any(v => v < 0) ? "a skipped count is negative"
            : null;
        if (problem is not null) throw new InvalidDataException($"'{path}': {problem}.");
    }

    public void Write(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, TrainingJsonContext.Default.TrainerState));

    public static TrainerState Read(string path)
    {
        try
        {
            IO.PosixFileSystem.RequireRegularFile(path);
            var state = JsonSerializer.Deserialize(File.ReadAllText(path), TrainingJsonContext.Default.TrainerState)
                ?? throw new InvalidDataException($"'{path}' is empty.");
            state.Validate(path);
            return state;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid trainer state: {e.Message}");
        }
    }
}
