using System.Collections;
using System.Globalization;

namespace MedClip.Distributed;

/// <summary>How this process was started.</summary>
public enum LaunchKind
{
    /// <summary>On its own: world size 1.</summary>
    Single,

    /// <summary>By mpirun (OMPI_COMM_WORLD_SIZE) or by srun with PMIx (PMIX_RANK): rank and size come from MPI.</summary>
    Mpi,

    /// <summary>torchrun-style: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.</summary>
    EnvironmentVariables,
}

/// <summary>
/// The launch read from the environment, the way launchers set it: mpirun's OMPI_COMM_WORLD_RANK / _SIZE /
/// _LOCAL_RANK (srun's PMIX_RANK and SLURM_LOCALID), or torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
/// MASTER_PORT. The local rank picks the GPU.
/// </summary>
public sealed record DistributedLaunch(LaunchKind Kind, int Rank, int WorldSize, int LocalRank, string? MasterAddress = null, int MasterPort = 0)
{
    public static readonly DistributedLaunch Single = new(LaunchKind.Single, 0, 1, 0);

    public bool IsDistributed => Kind != LaunchKind.Single;

    public static DistributedLaunch FromEnvironment() => FromVariables(Environment.GetEnvironmentVariables());

    public static DistributedLaunch FromVariables(IDictionary variables)
    {
        string? Get(string name) => variables[name] as string is { Length: > 0 } value ? value : null;
        int Number(string name, int? fallback = null)
        {
            string? text = Get(name);
            if (text is null)
                return fallback ?? throw new DistributedSetupException($"{name} is not set; a torchrun-style launch sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT.");
            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) ? value
                : throw new DistributedSetupException($"{name}={text} is not a non-negative integer.");
        }

        if (Get("OMPI_COMM_WORLD_SIZE") is not null || Get("PMIX_RANK") is not null)
        {
            int rank = Number("OMPI_COMM_WORLD_RANK", Get("PMIX_RANK") is null ? 0 : Number("PMIX_RANK"));
            int size = Number("OMPI_COMM_WORLD_SIZE", Get("SLURM_NTASKS") is null ? 1 : Number("SLURM_NTASKS"));
            int local = Number("OMPI_COMM_WORLD_LOCAL_RANK", Get("SLURM_LOCALID") is null ? 0 : Number("SLURM_LOCALID"));
            return new DistributedLaunch(LaunchKind.Mpi, rank, size, local);
        }
        if (Get("WORLD_SIZE") is not null)
        {
            int size = Number("WORLD_SIZE");
            int rank = Number("RANK");
            if (size < 1 || rank >= size) throw new DistributedSetupException($"RANK={rank} is not one of WORLD_SIZE={size} ranks.");
            if (size == 1) return Single;
            int local = Number("LOCAL_RANK");
            string address = Get("MASTER_ADDR") ?? throw new DistributedSetupException("MASTER_ADDR is not set; it names the host of rank 0, where the ranks meet.");
            int port = Number("MASTER_PORT");
            if (port is < 1 or > 65535) throw new DistributedSetupException($"MASTER_PORT={port} is not a TCP port.");
            return new DistributedLaunch(LaunchKind.EnvironmentVariables, rank, size, local, address, port);
        }
        return Single;
    }
}
