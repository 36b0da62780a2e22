namespace MedClip.IO;

/// <summary>
/// A safetensors file (https://github.com/huggingface/safetensors): an 8-byte little-endian
/// header length N, N bytes of JSON mapping each tensor name to its dtype, shape and
/// data_offsets (relative to the data section), an optional "__metadata__" string map, then the
/// data section. The file is memory-mapped and each tensor's bytes are a view of the mapping, so dispose the file
/// once its tensors have been copied out; until then it keeps the mapping open.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private readonly IDisposable? _mapping;

    public const string MetadataKey = "__metadata__";

    /// <summary>The reference implementation's bound on the JSON header (100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    internal SafetensorsFile(string path, IReadOnlyDictionary<string, string> metadata, IReadOnlyDictionary<string, SafetensorsTensor> tensors,
        IDisposable? mapping)
    {
        _mapping = mapping;
        Path = path;
        Metadata = metadata;
        Tensors = tensors;
    }

    /// <summary>The path the file was read from.</summary>
    public string Path { get; }

    /// <summary>The "__metadata__" entry; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public IReadOnlyDictionary<string, SafetensorsTensor> Tensors { get; }

    /// <summary>The tensor called <paramref name="name"/>; a missing one is an error naming the file.</summary>
    public SafetensorsTensor this[string name] =>
        Tensors.TryGetValue(name, out SafetensorsTensor? tensor)
            ? tensor
            : throw new KeyNotFoundException($"'{Path}' has no tensor named '{name}'.");

    /// <summary>Unmaps the file; reading a tensor's data afterwards throws <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => _mapping?.Dispose();

    /// <summary>Reads and validates the file; any corruption is an <see cref="InvalidDataException"/> naming the file.</summary>
    public static SafetensorsFile Read(string path) => SafetensorsReader.Read(path);

    /// <summary>
    /// Writes the tensors sorted by name, atomically: a temporary file in the same folder is
    /// written, flushed to disk and renamed over <paramref name="path"/>.
    /// </summary>
    public static void Write(string path, IEnumerable<SafetensorsTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null) =>
        SafetensorsWriter.Write(path, tensors, metadata);

    /// <summary>As <see cref="Write(string, IEnumerable{SafetensorsTensor}, IReadOnlyDictionary{string, string}?)"/>, from raw little-endian bytes.</summary>
    public static void Write(
        string path,
        IEnumerable<(string name, string dtype, long[] shape, ReadOnlyMemory<byte> data)> tensors,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        SafetensorsWriter.Write(path, tensors.Select(t => new SafetensorsTensor(t.name, t.dtype, t.shape, t.data)), metadata);
}
