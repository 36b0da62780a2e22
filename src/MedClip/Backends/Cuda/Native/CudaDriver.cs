using System.Runtime.InteropServices;

namespace MedClip.Backends.Cuda.Native;

/// <summary>
/// The subset of the CUDA driver API (libcuda.so.1) that the backend calls, exactly the functions of the binding
/// contract. Every function returns a CUresult (0 = CUDA_SUCCESS); <see cref="Check"/> turns failures into
/// <see cref="CudaException"/>s that name the call.
/// </summary>
internal static unsafe partial class CudaDriver
{
    public const string Library = "medclip-cuda";

    public const int CUDA_ERROR_OUT_OF_MEMORY = 2;

    // CUdevice_attribute values used here.
    public const int MaxThreadsPerBlock = 1;
    public const int MaxSharedMemoryPerBlock = 8;
    public const int WarpSize = 10;
    public const int MultiprocessorCount = 16;
    public const int ComputeCapabilityMajor = 75;
    public const int ComputeCapabilityMinor = 76;
    public const int MaxSharedMemoryPerBlockOptin = 97;

    // CUfunction_attribute
    public const int FuncAttributeMaxDynamicSharedSizeBytes = 8;

    [LibraryImport(Library)] public static partial int cuInit(uint flags);
    [LibraryImport(Library)] public static partial int cuDriverGetVersion(out int version);
    [LibraryImport(Library)] public static partial int cuDeviceGetCount(out int count);
    [LibraryImport(Library)] public static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Library)] public static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Library)] public static partial int cuDeviceGetAttribute(out int value, int attribute, int device);
    [LibraryImport(Library)] public static partial int cuDeviceTotalMem_v2(out nuint bytes, int device);
    [LibraryImport(Library)] public static partial int cuDevicePrimaryCtxRetain(out nint context, int device);
    [LibraryImport(Library)] public static partial int cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(Library)] public static partial int cuCtxSetCurrent(nint context);
    [LibraryImport(Library)] public static partial int cuCtxSynchronize();

    [LibraryImport(Library)] public static partial int cuMemAlloc_v2(out ulong pointer, nuint bytes);
    [LibraryImport(Library)] public static partial int cuMemFree_v2(ulong pointer);
    [LibraryImport(Library)] public static partial int cuMemGetInfo_v2(out nuint free, out nuint total);
    [LibraryImport(Library)] public static partial int cuMemcpyHtoD_v2(ulong destination, void* source, nuint bytes);
    [LibraryImport(Library)] public static partial int cuMemcpyDtoH_v2(void* destination, ulong source, nuint bytes);
    [LibraryImport(Library)] public static partial int cuMemcpyDtoD_v2(ulong destination, ulong source, nuint bytes);
    [LibraryImport(Library)] public static partial int cuMemcpyHtoDAsync_v2(ulong destination, void* source, nuint bytes, nint stream);
    [LibraryImport(Library)] public static partial int cuMemcpyDtoHAsync_v2(void* destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(Library)] public static partial int cuMemcpyDtoDAsync_v2(ulong destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(Library)] public static partial int cuMemsetD8_v2(ulong destination, byte value, nuint count);
    [LibraryImport(Library)] public static partial int cuMemsetD32_v2(ulong destination, uint value, nuint count);
    [LibraryImport(Library)] public static partial int cuMemsetD8Async(ulong destination, byte value, nuint count, nint stream);
    [LibraryImport(Library)] public static partial int cuMemsetD32Async(ulong destination, uint value, nuint count, nint stream);

    [LibraryImport(Library)] public static partial int cuModuleLoadData(out nint module, void* image);
    [LibraryImport(Library)] public static partial int cuModuleUnload(nint module);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int cuModuleGetFunction(out nint function, nint module, string name);
    [LibraryImport(Library)] public static partial int cuFuncSetAttribute(nint function, int attribute, int value);
    [LibraryImport(Library)]
    public static partial int cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY,
        uint blockZ, uint sharedMemoryBytes, nint stream, void** kernelParams, void** extra);

    [LibraryImport(Library)] public static partial int cuStreamCreate(out nint stream, uint flags);
    [LibraryImport(Library)] public static partial int cuStreamDestroy_v2(nint stream);
    [LibraryImport(Library)] public static partial int cuStreamSynchronize(nint stream);
    [LibraryImport(Library)] public static partial int cuStreamQuery(nint stream);
    [LibraryImport(Library)] public static partial int cuEventCreate(out nint @event, uint flags);
    [LibraryImport(Library)] public static partial int cuEventRecord(nint @event, nint stream);
    [LibraryImport(Library)] public static partial int cuEventSynchronize(nint @event);
    [LibraryImport(Library)] public static partial int cuEventElapsedTime(out float milliseconds, nint start, nint end);
    [LibraryImport(Library)] public static partial int cuEventDestroy_v2(nint @event);

    [LibraryImport(Library)] public static partial int cuGetErrorName(int error, out byte* name);
    [LibraryImport(Library)] public static partial int cuGetErrorString(int error, out byte* description);

    /// <summary>Throws a <see cref="CudaException"/> naming <paramref name="call"/> unless <paramref name="result"/> is CUDA_SUCCESS.</summary>
    public static void Check(int result, string call)
    {
        if (result != 0) throw new CudaException(call, result, ErrorName(result), ErrorString(result));
    }

    public static string ErrorName(int result) =>
        cuGetErrorName(result, out var name) == 0 && name != null ? Marshal.PtrToStringUTF8((nint)name)! : $"CUresult {result}";

    public static string ErrorString(int result) =>
        cuGetErrorString(result, out var text) == 0 && text != null ? Marshal.PtrToStringUTF8((nint)text)! : "unknown error";
}
