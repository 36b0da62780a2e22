using System.Runtime.InteropServices;

namespace MedClip.Distributed.Mpi;

/// <summary>
/// The subset of Open MPI's C API (libmpi.so.40) that <see cref="MpiCommunicator"/> calls. Open MPI's handles are the
/// addresses of global objects (MPI_COMM_WORLD is &amp;ompi_mpi_comm_world, MPI_FLOAT is &amp;ompi_mpi_float, MPI_SUM is
/// &amp;ompi_mpi_op_sum), so they are looked up with <see cref="NativeLibrary.GetExport"/>; requests are pointers,
/// MPI_STATUS_IGNORE is NULL and MPI_IN_PLACE is (void*)1.
/// </summary>
internal static unsafe partial class MpiNative
{
    public const string Library = "libmpi.so.40";
    public const int ThreadSerialized = 2;
    public static readonly nint InPlace = 1;

    [LibraryImport(Library)] public static partial int MPI_Initialized(out int flag);
    [LibraryImport(Library)] public static partial int MPI_Finalized(out int flag);
    [LibraryImport(Library)] public static partial int MPI_Init_thread(nint argc, nint argv, int required, out int provided);
    [LibraryImport(Library)] public static partial int MPI_Finalize();
    [LibraryImport(Library)] public static partial int MPI_Comm_rank(nint comm, out int rank);
    [LibraryImport(Library)] public static partial int MPI_Comm_size(nint comm, out int size);
    [LibraryImport(Library)] public static partial int MPI_Abort(nint comm, int errorCode);
    [LibraryImport(Library)] public static partial int MPI_Test(ref nint request, out int flag, nint status);

    [LibraryImport(Library)]
    public static partial int MPI_Iallreduce(nint sendBuffer, void* receiveBuffer, int count, nint datatype, nint op, nint comm, out nint request);

    [LibraryImport(Library)]
    public static partial int MPI_Iallgather(void* sendBuffer, int sendCount, nint sendType, void* receiveBuffer, int receiveCount, nint receiveType,
        nint comm, out nint request);

    [LibraryImport(Library)]
    public static partial int MPI_Ibcast(void* buffer, int count, nint datatype, int root, nint comm, out nint request);
}

/// <summary>libmpi.so.40, its global handles, and the one sentence that explains its absence.</summary>
internal sealed class MpiLibrary
{
    private MpiLibrary(nint handle)
    {
        CommWorld = Export(handle, "ompi_mpi_comm_world");
        Float = Export(handle, "ompi_mpi_float");
        Double = Export(handle, "ompi_mpi_double");
        Int64 = Export(handle, "ompi_mpi_long_long_int");
        Sum = Export(handle, "ompi_mpi_op_sum");
    }

    public nint CommWorld { get; }
    public nint Float { get; }
    public nint Double { get; }
    public nint Int64 { get; }
    public nint Sum { get; }

    public static MpiLibrary Load()
    {
        if (!NativeLibrary.TryLoad(MpiNative.Library, out nint handle))
            throw new DistributedSetupException(
                $"This process was launched by mpirun but Open MPI's {MpiNative.Library} could not be loaded: install Open MPI (apt-get install openmpi-bin libopenmpi-dev) or put its lib folder on LD_LIBRARY_PATH.");
        return new MpiLibrary(handle);
    }

    public nint Datatype<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? Float
        : typeof(T) == typeof(double) ? Double
        : typeof(T) == typeof(long) ? Int64
        : throw new NotSupportedException($"No MPI datatype for {typeof(T).Name}.");

    private static nint Export(nint handle, string name) =>
        NativeLibrary.TryGetExport(handle, name, out nint address) ? address
            : throw new DistributedSetupException($"{MpiNative.Library} has no symbol {name}: MedClip needs Open MPI 4 or newer (other MPI implementations use different handles).");
}
