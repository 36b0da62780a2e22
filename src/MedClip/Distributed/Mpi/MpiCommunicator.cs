using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using static MedClip.Distributed.Mpi.MpiNative;

namespace MedClip.Distributed.Mpi;

/// <summary>
/// Collectives between CPU processes started by mpirun, over MPI_COMM_WORLD of Open MPI. Every collective is
/// nonblocking (MPI_Iallreduce, MPI_Iallgather, MPI_Ibcast) and polled with MPI_Test against a deadline, so a rank that
/// died or hung makes the others print which collective timed out and MPI_Abort the job instead of waiting for ever.
/// MPI is initialised with MPI_THREAD_SERIALIZED; the training loop calls it from one thread at a time.
/// </summary>
public sealed unsafe class MpiCommunicator : HostStagedCommunicator
{
    private readonly MpiLibrary _mpi;
    private readonly TimeSpan _timeout;
    private bool _finalized;

    /// <param name="timeout">How long one collective may take before the job is aborted.</param>
    /// <param name="localRank">The rank on this node (OMPI_COMM_WORLD_LOCAL_RANK).</param>
    public MpiCommunicator(TimeSpan timeout, int localRank)
    {
        _mpi = MpiLibrary.Load();
        _timeout = timeout;
        Check(MPI_Initialized(out int initialized), "MPI_Initialized");
        if (initialized == 0) Check(MPI_Init_thread(0, 0, ThreadSerialized, out _), "MPI_Init_thread");
        Check(MPI_Comm_rank(_mpi.CommWorld, out int rank), "MPI_Comm_rank");
        Check(MPI_Comm_size(_mpi.CommWorld, out int size), "MPI_Comm_size");
        Rank = rank;
        WorldSize = size;
        LocalRank = localRank;
    }

    public override int Rank { get; }
    public override int WorldSize { get; }
    public override int LocalRank { get; }
    public override string Name => "MPI";

    protected override void AllReduceSumHost<T>(T[] buffer, string what)
    {
        fixed (T* data = buffer)
        {
            Check(MPI_Iallreduce(InPlace, data, Count(buffer.LongLength, what), _mpi.Datatype<T>(), _mpi.Sum, _mpi.CommWorld, out nint request), "MPI_Iallreduce");
            Wait(ref request, what);
        }
    }

    protected override void AllGatherHost<T>(T[] local, T[] gathered, string what)
    {
        fixed (T* send = local)
        fixed (T* receive = gathered)
        {
            int count = Count(local.LongLength, what);
            nint type = _mpi.Datatype<T>();
            Check(MPI_Iallgather(send, count, type, receive, count, type, _mpi.CommWorld, out nint request), "MPI_Iallgather");
            Wait(ref request, what);
        }
    }

    protected override void BroadcastHost<T>(T[] buffer, int root, string what)
    {
        fixed (T* data = buffer)
        {
            Check(MPI_Ibcast(data, Count(buffer.LongLength, what), _mpi.Datatype<T>(), root, _mpi.CommWorld, out nint request), "MPI_Ibcast");
            Wait(ref request, what);
        }
    }

    /// <summary>Broadcasts raw bytes from <paramref name="root"/> (NCCL's unique id when mpirun launched a GPU job).</summary>
    public byte[] BroadcastBytes(byte[] bytes, int root)
    {
        var words = new long[(bytes.Length + 7) / 8];
        Buffer.BlockCopy(bytes, 0, words, 0, bytes.Length);
        BroadcastHost(words, root, "the broadcast of NCCL's unique id");
        var result = new byte[bytes.Length];
        Buffer.BlockCopy(words, 0, result, 0, bytes.Length);
        return result;
    }

    [DoesNotReturn]
    public override void Abort(int exitCode)
    {
        Console.Error.Flush();
        MPI_Abort(_mpi.CommWorld, exitCode);
        Environment.Exit(exitCode);
        throw new InvalidOperationException("unreachable");
    }

    public override void Dispose()
    {
        if (_finalized) return;
        _finalized = true;
        MPI_Finalized(out int finalized);
        if (finalized == 0) MPI_Finalize();
    }

    // Polls the request: spins briefly (collectives of a training step are short), then sleeps a millisecond between
    // tests so that waiting ranks leave the cores to the ones still computing.
    private void Wait(ref nint request, string what)
    {
        var clock = Stopwatch.StartNew();
        for (int polls = 0; ; polls++)
        {
            Check(MPI_Test(ref request, out int done, 0), "MPI_Test");
            if (done != 0) return;
            if (clock.Elapsed > _timeout)
            {
                Console.Error.WriteLine(CollectiveTimeout.Message(Rank, WorldSize, what, _timeout));
                Abort(CollectiveTimeout.ExitCode);
            }
            if (polls < 200) Thread.Yield();
            else Thread.Sleep(1);
        }
    }

    private static int Count(long length, string what) =>
        length <= int.MaxValue ? (int)length : throw new NotSupportedException($"{what}: {length} elements exceed one MPI message; split the tensor.");

    private static void Check(int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"{call} failed with MPI error {status}.");
    }
}
