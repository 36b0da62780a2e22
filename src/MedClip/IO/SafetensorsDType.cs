namespace MedClip.IO;

/// <summary>
/// The dtype strings of the safetensors format and their element sizes in bytes.
/// </summary>
public static class SafetensorsDType
{
    public const string F64 = "F64";
    public const string F32 = "F32";
    public const string F16 = "F16";
    public const string BF16 = "BF16";
    public const string I64 = "I64";
    public const string I32 = "I32";
    public const string I16 = "I16";
    public const string I8 = "I8";
    public const string U64 = "U64";
    public const string U32 = "U32";
    public const string U16 = "U16";
    public const string U8 = "U8";
    public const string Bool = "BOOL";
    public const string F8E4M3 = "F8_E4M3";
    public const string F8E5M2 = "F8_E5M2";

    private static readonly Dictionary<string, int> ElementSizes = new(StringComparer.Ordinal)
    {
        [F64] = 8, [I64] = 8, [U64] = 8,
        [F32] = 4, [I32] = 4, [U32] = 4,
        [F16] = 2, [BF16] = 2, [I16] = 2, [U16] = 2,
        [I8] = 1, [U8] = 1, [Bool] = 1, [F8E4M3] = 1, [F8E5M2] = 1,
    };

    /// <summary>Bytes per element of <paramref name="dtype"/>; false for a dtype this reader does not know.</summary>
    public static bool TryGetElementSize(string dtype, out int size) => ElementSizes.TryGetValue(dtype, out size);

    /// <summary>Bytes per element of <paramref name="dtype"/>; throws for an unknown dtype.</summary>
    public static int ElementSize(string dtype) =>
        TryGetElementSize(dtype, out int size)
            ? size
            : throw new ArgumentException($"'{dtype}' is not a safetensors dtype.", nameof(dtype));
}
