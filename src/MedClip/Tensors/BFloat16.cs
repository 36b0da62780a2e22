namespace MedClip.Tensors;

/// <summary>bfloat16 stored as the upper 16 bits of an IEEE float; conversion rounds to nearest even.</summary>
public static class BFloat16
{
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40); // keep NaN a (quiet) NaN
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Rounds a float to the nearest bfloat16 value and back (emulates bf16 storage).</summary>
    public static float Round(float value) => ToSingle(FromSingle(value));
}
