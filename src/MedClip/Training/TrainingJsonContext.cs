using System.Text.Json.Serialization;

namespace MedClip.Training;

/// <summary>
/// The JSON contracts of a run folder (train_options.json, trainer_state.json), generated at compile time so that a
/// trimmed build serialises them without reflection.
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(TrainingOptions))]
[JsonSerializable(typeof(TrainerState))]
public sealed partial class TrainingJsonContext : JsonSerializerContext;
