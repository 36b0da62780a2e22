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
    [JsonPropertyName("total_steps")] public int TotalSteps { get; init; }
    [JsonPropertyName("batches_per_epoch")] public int BatchesPerEpoch { get; init; }
    [JsonPropertyName("seed")] public int Seed { get; init; }
    [JsonPropertyName("last_loss")] public double? LastLoss { get; init; }
    [JsonPropertyName("last_validation_loss")] public double? LastValidationLoss { get; init; }
    /// <summary>Parameters the optimizer updates (fewer than the total with locked towers or adapters).</summary>
    [JsonPropertyName("trainable_parameters")] public long TrainableParameters { get; init; }
    [JsonPropertyName("total_parameters")] public long TotalParameters { get; init; }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public void Write(string path) => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    public static TrainerState Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path))
                ?? throw new InvalidDataException($"'{path}' is empty.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not a valid trainer state: {e.Message}");
        }
    }
}
