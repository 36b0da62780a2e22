namespace MedClip.Backends.Cuda;

/// <summary>
/// One kernel argument in an 8-byte slot. cuLaunchKernel reads each parameter's own size from the start of its slot,
/// which on a little-endian host is exactly the low bytes where an int or a float is stored. Only the generated handles
/// (<see cref="Kernels"/>) make them, from parameters typed as the kernel declares them.
/// </summary>
internal readonly struct KernelArg
{
    private KernelArg(ulong bits) => Bits = bits;

    /// <summary>The slot's 8 bytes.</summary>
    public ulong Bits { get; }

    public static implicit operator KernelArg(DevicePointer pointer) => new(pointer.Address);
    public static implicit operator KernelArg(int value) => new((uint)value);
    public static implicit operator KernelArg(uint value) => new(value);
    public static implicit operator KernelArg(long value) => new((ulong)value);
    public static implicit operator KernelArg(ulong value) => new(value);
    public static implicit operator KernelArg(float value) => new(BitConverter.SingleToUInt32Bits(value));
    public static implicit operator KernelArg(double value) => new(BitConverter.DoubleToUInt64Bits(value));
}
