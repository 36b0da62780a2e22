using System.Runtime.InteropServices;
using MedClip.Backends.Cuda.Native;

namespace MedClip.Distributed.Nccl;

/// <summary>ncclUniqueId: 128 opaque bytes that rank 0 creates and every rank needs to join the communicator.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NcclUniqueId
{
    public const int Size = 128;
    public fixed byte Internal[Size];

    public byte[] ToBytes()
    {
        var bytes = new byte[Size];
        fixed (byte* source = Internal) new ReadOnlySpan<byte>(source, Size).CopyTo(bytes);
        return bytes;
    }

    public static NcclUniqueId FromBytes(byte[] bytes)
    {
        if (bytes.Length != Size) throw new ArgumentException($"An NCCL unique id has {Size} bytes, not {bytes.Length}.");
        var id = new NcclUniqueId();
        bytes.CopyTo(new Span<byte>(id.Internal, Size));
        return id;
    }
}

/// <summary>
/// The subset of NCCL's C API (libnccl.so.2) that <see cref="NcclCommunicator"/> calls. Collectives are queued on the
/// CUDA backend's stream; ncclComm_t and cudaStream_t are pointers; the enums are NCCL's values.
/// </summary>
internal static unsafe partial class NcclNative
{
    public const string Library = "libnccl.so.2";

    public const int Int32 = 2, Float32 = 7, Float64 = 8;
    public const int Sum = 0;
    public const int InProgress = 7;

    [LibraryImport(Library)] public static partial int ncclGetUniqueId(out NcclUniqueId uniqueId);
    [LibraryImport(Library)] public static partial int ncclCommInitRank(out nint comm, int ranks, NcclUniqueId commId, int rank);
    [LibraryImport(Library)] public static partial int ncclCommDestroy(nint comm);
    [LibraryImport(Library)] public static partial int ncclCommAbort(nint comm);
    [LibraryImport(Library)] public static partial int ncclCommGetAsyncError(nint comm, out int asyncError);
    [LibraryImport(Library)] public static partial byte* ncclGetErrorString(int result);

    [LibraryImport(Library)]
    public static partial int ncclAllReduce(ulong sendBuffer, ulong receiveBuffer, nuint count, int datatype, int op, nint comm, nint stream);

    [LibraryImport(Library)]
    public static partial int ncclAllGather(ulong sendBuffer, ulong receiveBuffer, nuint sendCount, int datatype, nint comm, nint stream);

    [LibraryImport(Library)]
    public static partial int ncclBroadcast(ulong sendBuffer, ulong receiveBuffer, nuint count, int datatype, int root, nint comm, nint stream);

    public static void Check(int result, string call)
    {
        if (result != 0) throw new InvalidOperationException($"{call} failed: {ErrorString(result)}.");
    }

    public static string ErrorString(int result)
    {
        byte* text = ncclGetErrorString(result);
        return text == null ? $"ncclResult_t {result}" : Marshal.PtrToStringUTF8((nint)text)!;
    }

    /// <summary>
    /// Loads libnccl.so.2 from MEDCLIP_CUDA_LIB_PATH, the loader path, /usr/local/cuda or pip's nvidia/nccl/lib, so that
    /// the imports above bind to it (the loader matches them by soname); its absence is one sentence.
    /// </summary>
    public static void EnsureLoaded()
    {
        var search = CudaLibrarySearch.FromEnvironment();
        bool InFolder(string folder) => File.Exists(Path.Combine(folder, Library)) && NativeLibrary.TryLoad(Path.Combine(folder, Library), out _);
        if ((search.LibraryPath ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(InFolder)) return;
        if (NativeLibrary.TryLoad(Library, out _)) return;
        if (search.Folders.Any(InFolder)) return;
        throw new DistributedSetupException(
            $"Multi-GPU training needs NCCL ({Library}), which was not found: install it (apt libnccl2, or pip nvidia-nccl-cu13 for CUDA 13 or nvidia-nccl-cu12 for 12) and set MEDCLIP_CUDA_LIB_PATH to its lib folder, or train on one GPU.");
    }
}
