namespace MedClip.Tensors;

/// <summary>Element type of a tensor's storage. I32 holds token ids, targets and masks.</summary>
public enum DType
{
    F32,
    F64,
    BF16,
    I32,
}

public static class DTypeExtensions
{
    public static int SizeInBytes(this DType dtype) => dtype switch
    {
        DType.F32 => 4,
        DType.F64 => 8,
        DType.BF16 => 2,
        DType.I32 => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    public static bool IsFloatingPoint(this DType dtype) => dtype is DType.F32 or DType.F64 or DType.BF16;
}
