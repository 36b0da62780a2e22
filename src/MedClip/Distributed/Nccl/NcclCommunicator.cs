using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using MedClip.Backends.Cuda;
using MedClip.Tensors;
using MedClip.Backends.Cuda.Native;
using static MedClip.Distributed.Nccl.NcclNative;

namespace MedClip.Distributed.Nccl;

/// <summary>
/// Collectives between GPUs (one process per GPU) with NCCL, queued on the CUDA backend's stream so they order with its
/// kernels. The ranks join with ncclCommInitRank on a unique id that rank 0 created and handed out over MPI (mpirun)
/// or the TCP rendezvous (torchrun-style variables). After queuing a collective the host polls the stream and
/// ncclCommGetAsyncError against the timeout; on expiry it prints which collective hung and aborts the communicator and
/// the process, since a CUDA stream cannot be waited on with a deadline otherwise.
/// </summary>
public sealed class NcclCommunicator : ICommunicator
{
    private const int CudaErrorNotReady = 600;
    private readonly CudaBackend _backend;
    private readonly TimeSpan _timeout;
    private readonly IDisposable? _bootstrap;
    private nint _comm;

    /// <param name="uniqueId">The 128 bytes rank 0 got from <see cref="CreateUniqueId"/>, the same on every rank.</param>
    /// <param name="bootstrap">What carried the unique id (the MPI communicator), finalised with this one.</param>
    public NcclCommunicator(CudaBackend backend, int rank, int worldSize, int localRank, byte[] uniqueId, TimeSpan timeout, IDisposable? bootstrap = null)
    {
        EnsureLoaded();
        _backend = backend;
        _timeout = timeout;
        _bootstrap = bootstrap;
        Rank = rank;
        WorldSize = worldSize;
        LocalRank = localRank;
        backend.Device.MakeCurrent();
        Check(ncclCommInitRank(out _comm, worldSize, NcclUniqueId.FromBytes(uniqueId), rank), "ncclCommInitRank");
    }

    public int Rank { get; }
    public int WorldSize { get; }
    public int LocalRank { get; }
    public string Name => "NCCL";

    /// <summary>A fresh unique id (rank 0 calls this and hands the bytes to the others).</summary>
    public static byte[] CreateUniqueId()
    {
        EnsureLoaded();
        Check(ncclGetUniqueId(out NcclUniqueId id), "ncclGetUniqueId");
        return id.ToBytes();
    }

    public void AllReduceSum(Tensor tensor)
    {
        var s = Storage(tensor);
        Check(ncclAllReduce(s.Pointer, s.Pointer, (nuint)tensor.Length, DataType(tensor), Sum, _comm, _backend.Device.Stream), "ncclAllReduce");
        Wait($"the all-reduce of {tensor.Describe()}");
    }

    public Tensor AllGather(Tensor local)
    {
        var dims = local.Shape.ToArray();
        dims[0] *= WorldSize;
        var gathered = Tensor.Zeros(_backend, new Shape(dims), local.DType);
        Check(ncclAllGather(Storage(local).Pointer, Storage(gathered).Pointer, (nuint)local.Length, DataType(local), _comm, _backend.Device.Stream), "ncclAllGather");
        Wait($"the all-gather of {local.Describe()}");
        return gathered;
    }

    public void Broadcast(Tensor tensor, int root)
    {
        var s = Storage(tensor);
        Check(ncclBroadcast(s.Pointer, s.Pointer, (nuint)tensor.Length, DataType(tensor), root, _comm, _backend.Device.Stream), "ncclBroadcast");
        Wait($"the broadcast of {tensor.Describe()}");
    }

    public double[] AllReduceSum(double[] values)
    {
        var device = Tensor.FromArray(_backend, [values.Length], values);
        AllReduceSum(device);
        return device.ToArray<double>();
    }

    // Longs travel as pairs of int32 words, which NCCL gathers without interpreting them.
    public long[] AllGather(long[] values)
    {
        var words = new int[values.Length * 2];
        Buffer.BlockCopy(values, 0, words, 0, values.Length * sizeof(long));
        var local = Tensor.FromArray(_backend, [words.Length], words);
        var gathered = Tensor.Zeros(_backend, [words.Length * WorldSize], DType.I32);
        Check(ncclAllGather(Storage(local).Pointer, Storage(gathered).Pointer, (nuint)words.Length, NcclNative.Int32, _comm, _backend.Device.Stream), "ncclAllGather");
        Wait("a control all-gather");
        var result = new long[values.Length * WorldSize];
        Buffer.BlockCopy(gathered.ToArray<int>(), 0, result, 0, result.Length * sizeof(long));
        return result;
    }

    [DoesNotReturn]
    public void Abort(int exitCode)
    {
        Console.Error.Flush();
        if (_comm != 0) ncclCommAbort(_comm);
        _comm = 0;
        Environment.Exit(exitCode);
        throw new InvalidOperationException("unreachable");
    }

    public void Dispose()
    {
        if (_comm != 0) ncclCommDestroy(_comm);
        _comm = 0;
        _bootstrap?.Dispose();
    }

    private void Wait(string what)
    {
        var clock = Stopwatch.StartNew();
        for (int polls = 0; ; polls++)
        {
            int status = CudaDriver.cuStreamQuery(_backend.Device.Stream);
            if (status == 0) return;
            if (status != CudaErrorNotReady) throw new InvalidOperationException($"{what}: the CUDA stream reported error {status}.");
            Check(ncclCommGetAsyncError(_comm, out int asyncError), "ncclCommGetAsyncError");
            if (asyncError != 0 && asyncError != InProgress)
            {
                Console.Error.WriteLine($"Rank {Rank} of {WorldSize}: {what} failed in NCCL ({ErrorString(asyncError)}); the job is aborted.");
                Abort(CollectiveTimeout.ExitCode);
            }
            if (clock.Elapsed > _timeout)
            {
                Console.Error.WriteLine(CollectiveTimeout.Message(Rank, WorldSize, what, _timeout));
                Abort(CollectiveTimeout.ExitCode);
            }
            if (polls < 200) Thread.Yield();
            else Thread.Sleep(1);
        }
    }

    private CudaStorage Storage(Tensor tensor) => tensor.Storage as CudaStorage is { } s && ReferenceEquals(tensor.Backend, _backend) ? s
        : throw new ArgumentException($"NCCL carries tensors of its own CUDA backend, not {tensor}.");

    private static int DataType(Tensor tensor) => tensor.DType switch
    {
        DType.F32 => Float32,
        DType.F64 => Float64,
        _ => throw new NotSupportedException($"NCCL collectives here carry F32 or F64 tensors, not {tensor.Describe()}."),
    };
}
