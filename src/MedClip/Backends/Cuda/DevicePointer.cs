namespace MedClip.Backends.Cuda;

/// <summary>A device address, the C# type of every pointer parameter of a kernel handle (<see cref="Kernels"/>).</summary>
internal readonly record struct DevicePointer(ulong Address)
{
    /// <summary>The null pointer a kernel reads as an absent optional operand.</summary>
    public static DevicePointer Null => default;
}
