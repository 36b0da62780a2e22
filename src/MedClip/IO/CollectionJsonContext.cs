using System.Text.Json.Serialization;

namespace MedClip.IO;

/// <summary>
/// Plain JSON collections (a token-to-id map, a list of paths or texts), generated at compile time so that a trimmed
/// build reads and writes them without reflection.
/// </summary>
[JsonSerializable(typeof(Dictionary<string, int>))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(string[]))]
public sealed partial class CollectionJsonContext : JsonSerializerContext;
