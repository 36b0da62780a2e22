using System.Numerics;
using System.Runtime.InteropServices;

namespace MedClip.IO;

/// <summary>
/// One tensor of a safetensors file: its dtype string, its shape (empty for a 0-dim scalar) and
/// its raw bytes, little-endian and row-major. The conversions read those bytes as the machine's
/// own numbers, which is right on every little-endian machine .NET runs on (x64, Arm64).
/// </summary>
public sealed class SafetensorsTensor
{
    public SafetensorsTensor(string name, string dtype, long[] shape, ReadOnlyMemory<byte> data)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        if (name == SafetensorsFile.MetadataKey)
            throw new ArgumentException($"'{SafetensorsFile.MetadataKey}' is reserved for the metadata and cannot name a tensor.", nameof(name));
        int elementSize = SafetensorsDType.ElementSize(dtype);
        long count = ElementCountOf(shape)
            ?? throw new ArgumentException($"Tensor '{name}' has an invalid shape [{string.Join(", ", shape)}].", nameof(shape));
        if (count * elementSize != data.Length)
            throw new ArgumentException(
                $"Tensor '{name}' of dtype {dtype} and shape [{string.Join(", ", shape)}] needs {count * elementSize} bytes but was given {data.Length}.",
                nameof(data));
        Name = name;
        DType = dtype;
        Shape = shape;
        Data = data;
        ElementCount = count;
    }

    public string Name { get; }

    /// <summary>The safetensors dtype string: F64, F32, F16, BF16, I64, I32, U8, ...</summary>
    public string DType { get; }

    public long[] Shape { get; }

    public ReadOnlyMemory<byte> Data { get; }

    public long ElementCount { get; }

    /// <summary>The file this tensor was read from, named in conversion errors; null for a tensor built in memory.</summary>
    internal string? SourcePath { get; init; }

    public static SafetensorsTensor FromFloat32(string name, long[] shape, ReadOnlySpan<float> values) =>
        new(name, SafetensorsDType.F32, shape, MemoryMarshal.AsBytes(values).ToArray());

    public static SafetensorsTensor FromFloat64(string name, long[] shape, ReadOnlySpan<double> values) =>
        new(name, SafetensorsDType.F64, shape, MemoryMarshal.AsBytes(values).ToArray());

    public static SafetensorsTensor FromInt32(string name, long[] shape, ReadOnlySpan<int> values) =>
        new(name, SafetensorsDType.I32, shape, MemoryMarshal.AsBytes(values).ToArray());

    /// <summary>Product of the dimensions (1 for a scalar); null if a dimension is negative or the product overflows.</summary>
    internal static long? ElementCountOf(long[] shape)
    {
        long count = 1;
        foreach (long dim in shape)
        {
            if (dim < 0)
                return null;
            try { count = checked(count * dim); }
            catch (OverflowException) { return null; }
        }
        return count;
    }

    public float[] ToFloat32() => DType switch
    {
        SafetensorsDType.F32 => Reinterpret<float>(),
        SafetensorsDType.F64 => Convert<double, float>(),
        SafetensorsDType.F16 => Convert<Half, float>(),
        SafetensorsDType.BF16 => BFloat16ToFloat32(),
        SafetensorsDType.I64 => Convert<long, float>(),
        SafetensorsDType.I32 => Convert<int, float>(),
        _ => throw NotConvertible("float32"),
    };

    public double[] ToFloat64() => DType switch
    {
        SafetensorsDType.F64 => Reinterpret<double>(),
        SafetensorsDType.F32 => Convert<float, double>(),
        SafetensorsDType.F16 => Convert<Half, double>(),
        SafetensorsDType.BF16 => Array.ConvertAll(BFloat16ToFloat32(), x => (double)x),
        SafetensorsDType.I64 => Convert<long, double>(),
        SafetensorsDType.I32 => Convert<int, double>(),
        _ => throw NotConvertible("float64"),
    };

    /// <summary>Integer dtypes only: a float tensor where ids or a mask were expected is an error, not a rounding.</summary>
    public int[] ToInt32() => DType switch
    {
        SafetensorsDType.I32 => Reinterpret<int>(),
        SafetensorsDType.I64 => Convert<long, int>(),
        SafetensorsDType.U32 => Convert<uint, int>(),
        SafetensorsDType.I16 => Convert<short, int>(),
        SafetensorsDType.U16 => Convert<ushort, int>(),
        SafetensorsDType.I8 => Convert<sbyte, int>(),
        SafetensorsDType.U8 or SafetensorsDType.Bool => Convert<byte, int>(),
        _ => throw NotConvertible("int32"),
    };

    private T[] Reinterpret<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Data.Span).ToArray();

    private TTo[] Convert<TFrom, TTo>()
        where TFrom : unmanaged, INumberBase<TFrom>
        where TTo : INumberBase<TTo>
    {
        ReadOnlySpan<TFrom> source = MemoryMarshal.Cast<byte, TFrom>(Data.Span);
        var result = new TTo[source.Length];
        for (int i = 0; i < source.Length; i++)
        {
            try { result[i] = TTo.CreateChecked(source[i]); }
            catch (OverflowException)
            {
                throw new InvalidDataException(
                    $"Tensor '{Name}'{InFile} holds {source[i]} at element {i}, which does not fit in {typeof(TTo).Name}.");
            }
        }
        return result;
    }

    // bf16 is the top half of an IEEE float32.
    private float[] BFloat16ToFloat32()
    {
        ReadOnlySpan<ushort> source = MemoryMarshal.Cast<byte, ushort>(Data.Span);
        var result = new float[source.Length];
        for (int i = 0; i < source.Length; i++)
            result[i] = BitConverter.Int32BitsToSingle(source[i] << 16);
        return result;
    }

    private string InFile => SourcePath is null ? "" : $" in '{SourcePath}'";

    private InvalidDataException NotConvertible(string target) =>
        new($"Tensor '{Name}'{InFile} has dtype {DType}, which cannot be read as {target}.");
}
