using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.IO;

/// <summary>A module's parameters to and from safetensors, under their HF names.</summary>
public static class ModuleWeights
{
    /// <param name="rename">The name a parameter is stored under, when it differs from the module's (another checkpoint layout).</param>
    public static void Save(Module module, string path, IReadOnlyDictionary<string, string>? metadata = null, Func<string, string>? rename = null) =>
        SafetensorsFile.Write(path, module.NamedParameters().Select(p => ToSafetensors(rename?.Invoke(p.Name) ?? p.Name, p.Tensor)),
            metadata ?? new Dictionary<string, string> { ["format"] = "pt" });

    /// <summary>
    /// Loads every parameter from <paramref name="path"/>. Missing tensors, unexpected tensors and shape mismatches are
    /// all listed by name in one error.
    /// </summary>
    public static void Load(Module module, string path)
    {
        using var file = SafetensorsFile.Read(path);
        Assign(module, file.Tensors.Values.Select(t => (t.Name, t)), path, optional: _ => false);
    }

    /// <summary>
    /// Copies <paramref name="tensors"/> (each under the parameter name it maps to) into <paramref name="module"/>'s
    /// parameters after checking them all: missing, unexpected, duplicated and wrongly shaped tensors are listed by name
    /// in one error naming <paramref name="source"/>, and nothing is copied. Missing parameters for which
    /// <paramref name="optional"/> holds keep their values and are returned.
    /// </summary>
    public static IReadOnlyList<string> Assign(Module module, IEnumerable<(string Name, SafetensorsTensor Tensor)> tensors, string source,
        Func<string, bool> optional)
    {
        var parameters = module.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor);
        var given = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
        var unexpected = new List<string>();
        var duplicated = new List<string>();
        foreach (var (name, tensor) in tensors)
        {
            if (!parameters.ContainsKey(name)) unexpected.Add(tensor.Name == name ? name : $"{tensor.Name} (as {name})");
            else if (!given.TryAdd(name, tensor)) duplicated.Add($"{name} (from {given[name].Name} and {tensor.Name})");
        }
        var absent = parameters.Keys.Where(n => !given.ContainsKey(n)).ToList();
        var missing = absent.Where(n => !optional(n)).ToList();
        var mismatched = given
            .Where(g => parameters.TryGetValue(g.Key, out var p) && !g.Value.Shape.Select(d => (int)d).SequenceEqual(p.Shape.ToArray()))
            .Select(g => $"{g.Key} (file {Format(g.Value.Shape)}, model {parameters[g.Key].Shape})")
            .ToList();
        if (missing.Count + unexpected.Count + duplicated.Count + mismatched.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing {string.Join(", ", missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected {string.Join(", ", unexpected)}");
            if (duplicated.Count > 0) parts.Add($"given twice {string.Join(", ", duplicated)}");
            if (mismatched.Count > 0) parts.Add($"shape mismatch {string.Join(", ", mismatched)}");
            throw new InvalidDataException($"'{source}' does not fit the model: {string.Join("; ", parts)}.");
        }
        foreach (var (name, tensor) in given) CopyInto(tensor, parameters[name]);
        return absent;
    }

    public static SafetensorsTensor ToSafetensors(string name, Tensor t)
    {
        long[] shape = t.Shape.ToArray().Select(d => (long)d).ToArray();
        return t.DType switch
        {
            DType.F32 => SafetensorsTensor.FromFloat32(name, shape, t.ToArray<float>()),
            DType.F64 => SafetensorsTensor.FromFloat64(name, shape, t.ToArray<double>()),
            DType.I32 => SafetensorsTensor.FromInt32(name, shape, t.ToArray<int>()),
            _ => throw new NotSupportedException($"Saving {t.Describe()}: cast BF16 tensors to F32 first."),
        };
    }

    /// <summary>Copies a stored tensor into <paramref name="target"/>, converting F16/BF16/F64 to the target's dtype.</summary>
    public static void CopyInto(SafetensorsTensor source, Tensor target)
    {
        if (source.ElementCount != target.Length)
            throw new InvalidDataException($"Tensor '{source.Name}' has {source.ElementCount} elements; {target.Describe()} needs {target.Length}.");
        switch (target.DType)
        {
            case DType.F32: target.Backend.CopyFromHost<float>(source.ToFloat32(), target.Storage); break;
            case DType.F64: target.Backend.CopyFromHost<double>(source.ToFloat64(), target.Storage); break;
            case DType.I32: target.Backend.CopyFromHost<int>(source.ToInt32(), target.Storage); break;
            default: throw new NotSupportedException($"Loading into {target.Describe()} is not supported.");
        }
        if (target.Bf16Copy is { } copy) target.Backend.Cast(target, copy);
    }

    private static string Format(long[] shape) => "[" + string.Join(", ", shape) + "]";
}
