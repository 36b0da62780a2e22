using System.Runtime.InteropServices;

namespace MedClip.Backends.Cuda.Native;

/// <summary>The NVRTC subset of the binding contract (libnvrtc.so.13 / .12); every function returns an nvrtcResult (0 = success).</summary>
internal static unsafe partial class Nvrtc
{
    public const string Library = "medclip-nvrtc";

    public const int NVRTC_ERROR_COMPILATION = 6;

    [LibraryImport(Library)] public static partial int nvrtcVersion(out int major, out int minor);
    [LibraryImport(Library)] public static partial int nvrtcGetNumSupportedArchs(out int count);
    [LibraryImport(Library)] public static partial int nvrtcGetSupportedArchs(int* architectures);
    [LibraryImport(Library)]
    public static partial int nvrtcCreateProgram(out nint program, byte* source, byte* name, int headerCount, byte** headers, byte** includeNames);
    [LibraryImport(Library)] public static partial int nvrtcCompileProgram(nint program, int optionCount, byte** options);
    [LibraryImport(Library)] public static partial int nvrtcGetProgramLogSize(nint program, out nuint size);
    [LibraryImport(Library)] public static partial int nvrtcGetProgramLog(nint program, byte* log);
    [LibraryImport(Library)] public static partial int nvrtcGetCUBINSize(nint program, out nuint size);
    [LibraryImport(Library)] public static partial int nvrtcGetCUBIN(nint program, byte* cubin);
    [LibraryImport(Library)] public static partial int nvrtcGetPTXSize(nint program, out nuint size);
    [LibraryImport(Library)] public static partial int nvrtcGetPTX(nint program, byte* ptx);
    [LibraryImport(Library)] public static partial int nvrtcDestroyProgram(ref nint program);
    [LibraryImport(Library)] public static partial byte* nvrtcGetErrorString(int result);

    public static void Check(int result, string call)
    {
        if (result != 0) throw new CudaException(call, result, ErrorString(result), "NVRTC call failed");
    }

    public static string ErrorString(int result)
    {
        var text = nvrtcGetErrorString(result);
        return text == null ? $"nvrtcResult {result}" : Marshal.PtrToStringUTF8((nint)text)!;
    }
}
