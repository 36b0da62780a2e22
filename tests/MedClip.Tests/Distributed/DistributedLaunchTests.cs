using System.Collections;
using MedClip.Distributed;

namespace MedClip.Tests.Distributed;

public sealed class DistributedLaunchTests
{
    private static DistributedLaunch Read(params (string Name, string Value)[] variables) =>
        DistributedLaunch.FromVariables(new Hashtable(variables.ToDictionary(v => v.Name, v => (object)v.Value)));

    [Fact]
    public void NoVariables_IsASingleProcess() => Assert.Equal(DistributedLaunch.Single, Read());

    [Fact]
    public void Mpirun_GivesRankSizeAndLocalRank() => Assert.Equal(
        new DistributedLaunch(LaunchKind.Mpi, 3, 4, 1),
        Read(("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "4"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1")));

    [Fact]
    public void SrunWithPmix_TakesTheLocalRankFromSlurm() => Assert.Equal(
        new DistributedLaunch(LaunchKind.Mpi, 5, 8, 1),
        Read(("PMIX_RANK", "5"), ("SLURM_NTASKS", "8"), ("SLURM_LOCALID", "1")));

    [Fact]
    public void TorchrunVariables_GiveRankAndRendezvous() => Assert.Equal(
        new DistributedLaunch(LaunchKind.EnvironmentVariables, 2, 4, 0, "node7", 29500),
        Read(("RANK", "2"), ("WORLD_SIZE", "4"), ("LOCAL_RANK", "0"), ("MASTER_ADDR", "node7"), ("MASTER_PORT", "29500")));

    [Fact]
    public void TorchrunWithoutMasterAddress_IsOneClearSentence()
    {
        var e = Assert.Throws<DistributedSetupException>(() => Read(("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1"), ("MASTER_PORT", "29500")));
        Assert.StartsWith("MASTER_ADDR is not set", e.Message);
    }

    [Fact]
    public void RankOutsideTheWorld_IsRejected()
    {
        var e = Assert.Throws<DistributedSetupException>(() => Read(("RANK", "2"), ("WORLD_SIZE", "2")));
        Assert.Contains("RANK=2 is not one of WORLD_SIZE=2", e.Message);
    }

    [Fact]
    public void CollectiveTimeout_OptionBeatsTheDefault_AndMustBePositive()
    {
        Assert.Equal(TimeSpan.FromSeconds(2.5), CollectiveTimeout.Resolve(2.5));
        Assert.Throws<ArgumentException>(() => CollectiveTimeout.Resolve(0));
    }
}
