using MedClip.Backends;
using MedClip.Backends.Cuda;
using MedClip.Distributed.Mpi;
using MedClip.Distributed.Nccl;

namespace MedClip.Distributed;

/// <summary>
/// The communicator for a launch and a backend: none for a single process; MPI between CPU processes started by
/// mpirun; NCCL between GPUs, with its unique id broadcast over MPI (mpirun) or handed out by the TCP rendezvous
/// (torchrun-style variables).
/// </summary>
public static class Communicators
{
    public static ICommunicator Open(DistributedLaunch launch, IBackend backend, TimeSpan timeout)
    {
        if (!launch.IsDistributed) return SingleProcessCommunicator.Instance;
        bool gpu = backend is CudaBackend;
        if (launch.Kind == LaunchKind.Mpi)
        {
            var mpi = new MpiCommunicator(timeout, launch.LocalRank);
            if (!gpu || mpi.WorldSize == 1) return mpi;
            byte[] id = mpi.BroadcastBytes(mpi.Rank == 0 ? NcclCommunicator.CreateUniqueId() : new byte[Nccl.NcclUniqueId.Size], root: 0);
            return new NcclCommunicator((CudaBackend)backend, mpi.Rank, mpi.WorldSize, launch.LocalRank, id, timeout, bootstrap: mpi);
        }
        if (!gpu)
            throw new DistributedSetupException(
                "RANK/WORLD_SIZE launches carry the collectives over NCCL, which needs --device cuda; launch CPU processes with mpirun instead.");
        byte[] uniqueId;
        if (launch.Rank == 0)
        {
            uniqueId = NcclCommunicator.CreateUniqueId();
            TcpRendezvous.Serve(launch.MasterPort, launch.WorldSize, uniqueId, timeout);
        }
        else
        {
            uniqueId = TcpRendezvous.Join(launch.MasterAddress!, launch.MasterPort, launch.WorldSize, launch.Rank, timeout);
        }
        return new NcclCommunicator((CudaBackend)backend, launch.Rank, launch.WorldSize, launch.LocalRank, uniqueId, timeout);
    }
}
