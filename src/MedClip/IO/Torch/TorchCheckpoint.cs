using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;

namespace MedClip.IO.Torch;

/// <summary>
/// Reads a PyTorch state dict saved by torch.save (pytorch_model.bin) without Python, in either format:
/// <list type="bullet">
/// <item>zip (torch 1.6 and later): ROOT/data.pkl is the pickle, ROOT/data/KEY the raw bytes of storage KEY;</item>
/// <item>legacy (before 1.6): five pickles back to back (magic number, protocol version, sys_info, the state dict,
/// the sorted storage keys), then each storage as an int64 element count and its raw bytes.</item>
/// </list>
/// In both the state dict refers to storages by persistent id ('storage', torch.FloatStorage, key, location, numel)
/// and each tensor is torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...), so several tensors may view
/// one storage (tied weights). Each tensor is copied out contiguously, in its stored dtype.
/// </summary>
public static class TorchCheckpoint
{
    private static readonly BigInteger LegacyMagic = BigInteger.Parse("119547037146038801333356");
    private const long LegacyProtocolVersion = 1001;

    private static readonly Dictionary<string, (string DType, int Size)> StorageTypes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = (SafetensorsDType.F32, 4),
        ["HalfStorage"] = (SafetensorsDType.F16, 2),
        ["BFloat16Storage"] = (SafetensorsDType.BF16, 2),
        ["DoubleStorage"] = (SafetensorsDType.F64, 8),
        ["LongStorage"] = (SafetensorsDType.I64, 8),
        ["IntStorage"] = (SafetensorsDType.I32, 4),
        ["ShortStorage"] = (SafetensorsDType.I16, 2),
        ["CharStorage"] = (SafetensorsDType.I8, 1),
        ["ByteStorage"] = (SafetensorsDType.U8, 1),
        ["BoolStorage"] = (SafetensorsDType.Bool, 1),
    };

    /// <summary>A storage named by a persistent id; its bytes are filled in once they have been read.</summary>
    private sealed class Storage(string key, string dtype, int elementSize, long elementCount)
    {
        public string Key { get; } = key;
        public string DType { get; } = dtype;
        public int ElementSize { get; } = elementSize;
        public long ElementCount { get; } = elementCount;
        public byte[]? Bytes { get; set; }
    }

    private sealed record TensorView(Storage Storage, long Offset, long[] Size, long[] Stride);

    /// <summary>The state dict's tensors, in the file's order.</summary>
    public static IReadOnlyList<SafetensorsTensor> Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        Span<byte> magic = stackalloc byte[4];
        if (stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) < 4)
            throw Invalid(path, "it is too short to be a PyTorch checkpoint");
        stream.Position = 0;
        return magic.SequenceEqual("PK\x03\x04"u8) ? ReadZip(stream, path) : ReadLegacy(stream, path);
    }

    /// <summary>Converts a PyTorch checkpoint to a safetensors file; returns the number of tensors written.</summary>
    public static int Convert(string input, string output)
    {
        var tensors = Read(input);
        SafetensorsFile.Write(output, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        return tensors.Count;
    }

    private static IReadOnlyList<SafetensorsTensor> ReadZip(Stream stream, string path)
    {
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw Invalid(path, $"it starts like a zip file but is not a readable one ({e.Message})");
        }
        using (zip)
        {
            var pickle = zip.Entries.SingleOrDefault(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1)
                ?? throw Invalid(path, "it is a zip file without a ROOT/data.pkl entry, so it is not a torch.save checkpoint");
            string root = pickle.FullName[..^"data.pkl".Length];
            var storages = new Dictionary<string, Storage>(StringComparer.Ordinal);
            object? state;
            using (var pickleStream = new MemoryStream(ReadEntry(pickle, path)))
                state = RestrictedUnpickler.Load(pickleStream, path, id => PersistentStorage(path, id, storages), (f, a) => Call(path, f, a));
            foreach (var storage in storages.Values)
            {
                var entry = zip.GetEntry($"{root}data/{storage.Key}")
                    ?? throw Invalid(path, $"storage {storage.Key} has no entry {root}data/{storage.Key}");
                if (entry.Length != storage.ElementCount * storage.ElementSize)
                    throw Invalid(path, $"storage {storage.Key} is {entry.Length} bytes but its tensors were saved with {storage.ElementCount} elements of {storage.ElementSize} bytes");
                storage.Bytes = ReadEntry(entry, path);
            }
            return Tensors(path, state);
        }
    }

    private static IReadOnlyList<SafetensorsTensor> ReadLegacy(Stream stream, string path)
    {
        var storages = new Dictionary<string, Storage>(StringComparer.Ordinal);
        object? Next() => RestrictedUnpickler.Load(stream, path, id => PersistentStorage(path, id, storages), (f, a) => Call(path, f, a));

        if (Next() is not BigInteger magic || magic != LegacyMagic)
            throw Invalid(path, "it is neither a zip nor a legacy torch.save file (the magic number does not match)");
        if (Next() is not long version || version != LegacyProtocolVersion)
            throw Invalid(path, $"its legacy protocol version is not {LegacyProtocolVersion}");
        if (Next() is not OrderedDictionary<object, object?> sysInfo || sysInfo.GetValueOrDefault("little_endian") is not true)
            throw Invalid(path, "it was saved on a big-endian machine or its sys_info is missing");
        object? state = Next();
        if (Next() is not List<object?> keys || keys.Any(k => k is not string))
            throw Invalid(path, "the list of storage keys after the state dict is missing");

        Span<byte> countBytes = stackalloc byte[8];
        foreach (string key in keys.Cast<string>())
        {
            var storage = storages.GetValueOrDefault(key) ?? throw Invalid(path, $"storage {key} is stored but no tensor refers to it");
            if (stream.ReadAtLeast(countBytes, 8, throwOnEndOfStream: false) < 8)
                throw Invalid(path, $"it ends before storage {key}, so the file is probably truncated");
            long count = BinaryPrimitives.ReadInt64LittleEndian(countBytes);
            if (count != storage.ElementCount)
                throw Invalid(path, $"storage {key} holds {count} elements but its tensors were saved with {storage.ElementCount}");
            storage.Bytes = ReadExactly(stream, path, count * storage.ElementSize, $"storage {key}");
        }
        return Tensors(path, state);
    }

    /// <summary>('storage', torch.XStorage, key, location, numel[, view_metadata]) -> the storage, one object per key.</summary>
    private static Storage PersistentStorage(string path, object?[] id, Dictionary<string, Storage> storages)
    {
        if (id.Length is not (5 or 6) || id[0] is not "storage" || id[1] is not PickleGlobal type || id[2] is not string key || id[4] is not long count || count < 0)
            throw Invalid(path, "a persistent id is not ('storage', type, key, location, numel)");
        if (id.Length == 6 && id[5] is not null)
            throw Invalid(path, $"storage {key} is a view of another storage, which only torch before 0.4 wrote");
        if (!StorageTypes.TryGetValue(type.Name, out var dtype))
            throw Invalid(path, $"storage {key} has the type {type}, which has no safetensors dtype");
        if (storages.TryGetValue(key, out Storage? existing))
        {
            if (existing.DType != dtype.DType || existing.ElementCount != count)
                throw Invalid(path, $"storage {key} is described twice with different types or sizes");
            return existing;
        }
        return storages[key] = new Storage(key, dtype.DType, dtype.Size, count);
    }

    /// <summary>The allowed calls: OrderedDict(), _rebuild_tensor_v2(storage, offset, size, stride, ...) and _rebuild_parameter(tensor, ...).</summary>
    private static object? Call(string path, PickleGlobal function, object?[] args)
    {
        switch (function.ToString())
        {
            case "collections.OrderedDict" when args.Length == 0:
                return new OrderedDictionary<object, object?>();
            case "torch._utils._rebuild_tensor_v2" when args.Length >= 4 && args[0] is Storage storage && args[1] is long offset
                                                        && args[2] is object?[] size && args[3] is object?[] stride:
                return new TensorView(storage, offset, Longs(path, size), Longs(path, stride));
            case "torch._utils._rebuild_parameter" when args.Length >= 1 && args[0] is TensorView tensor:
                return tensor;
            default:
                throw Invalid(path, $"it calls {function} with {args.Length} arguments of a kind a state dict does not use");
        }
    }

    private static long[] Longs(string path, object?[] values) =>
        values.Select(v => v is long l && l >= 0 ? l : throw Invalid(path, "a tensor's size or stride is not a tuple of non-negative integers")).ToArray();

    private static IReadOnlyList<SafetensorsTensor> Tensors(string path, object? state)
    {
        if (state is not OrderedDictionary<object, object?> dict)
            throw Invalid(path, "it does not hold a state dict (a dict of tensor names to tensors)");
        var tensors = new List<SafetensorsTensor>(dict.Count);
        foreach (var (key, value) in dict)
        {
            if (key is not string name || value is not TensorView view)
                throw Invalid(path, $"its entry {key} is not a tensor; only plain state dicts of tensors are supported");
            tensors.Add(new SafetensorsTensor(name, view.Storage.DType, view.Size, Contiguous(path, name, view)));
        }
        return tensors;
    }

    /// <summary>The view's elements in row-major order: one slice when its strides are contiguous, else gathered index by index.</summary>
    private static byte[] Contiguous(string path, string name, TensorView view)
    {
        var storage = view.Storage;
        byte[] source = storage.Bytes ?? throw Invalid(path, $"tensor '{name}' refers to storage {storage.Key}, whose data is missing");
        long count = SafetensorsTensor.ElementCountOf(view.Size) ?? throw Invalid(path, $"tensor '{name}' has an invalid size");
        if (view.Size.Length != view.Stride.Length)
            throw Invalid(path, $"tensor '{name}' has {view.Size.Length} sizes but {view.Stride.Length} strides");
        int es = storage.ElementSize;
        if (count == 0) return [];
        long last = view.Offset + view.Size.Select((s, i) => (s - 1) * view.Stride[i]).Sum();
        if (last >= storage.ElementCount)
            throw Invalid(path, $"tensor '{name}' reaches element {last} of storage {storage.Key}, which has {storage.ElementCount}");
        if (count * es > Array.MaxLength)
            throw new NotSupportedException($"Tensor '{name}' in '{path}' is larger than one array can hold.");

        var result = new byte[count * es];
        if (IsContiguous(view.Size, view.Stride))
        {
            source.AsSpan((int)(view.Offset * es), result.Length).CopyTo(result);
            return result;
        }
        var index = new long[view.Size.Length];
        for (long i = 0; i < count; i++)
        {
            long element = view.Offset;
            for (int d = 0; d < index.Length; d++) element += index[d] * view.Stride[d];
            source.AsSpan((int)(element * es), es).CopyTo(result.AsSpan((int)(i * es), es));
            for (int d = index.Length - 1; d >= 0 && ++index[d] == view.Size[d]; d--) index[d] = 0;
        }
        return result;
    }

    private static bool IsContiguous(long[] size, long[] stride)
    {
        long expected = 1;
        for (int d = size.Length - 1; d >= 0; d--)
        {
            if (size[d] != 1 && stride[d] != expected) return false;
            expected *= size[d];
        }
        return true;
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry, string path)
    {
        using var data = entry.Open();
        return ReadExactly(data, path, entry.Length, entry.FullName);
    }

    private static byte[] ReadExactly(Stream stream, string path, long length, string what)
    {
        if (stream.CanSeek && length > stream.Length - stream.Position)
            throw Invalid(path, $"{what} claims {length} bytes but the file ends sooner, so it is probably truncated");
        if (length > Array.MaxLength) throw new NotSupportedException($"{what} in '{path}' is larger than one array can hold.");
        var bytes = new byte[length];
        if (stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false) < bytes.Length)
            throw Invalid(path, $"it ends inside {what}, so the file is probably truncated");
        return bytes;
    }

    internal static InvalidDataException Invalid(string path, string problem) =>
        new($"'{path}' is not a PyTorch checkpoint MedClip can read: {problem}.");
}
