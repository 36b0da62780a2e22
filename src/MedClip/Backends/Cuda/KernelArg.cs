namespace MedClip.Backends.Cuda;

/// <summary>
/// One kernel argument in an 8-byte slot. cuLaunchKernel reads each parameter's own size from the start of its slot,
/// which on a little-endian host is exactly the low bytes where an int or a float is stored.
/// </summary>
public readonly struct KernelArg
{
    private readonly ulong _bits;

    private KernelArg(ulong bits) => _bits = bits;

    public static KernelArg Pointer(ulong address) => new(address);

    public static implicit operator KernelArg(int value) => new((uint)value);
    public static implicit operator KernelArg(uint value) => new(value);
    public static implicit operator KernelArg(long value) => new((ulong)value);
    public static implicit operator KernelArg(float value) => new(BitConverter.SingleToUInt32Bits(value));
    public static implicit operator KernelArg(double value) => new(BitConverter.DoubleToUInt64Bits(value));
    public static implicit operator KernelArg(bool value) => new(value ? 1u : 0u);
}
