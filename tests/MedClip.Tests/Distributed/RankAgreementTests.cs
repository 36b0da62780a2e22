using MedClip.Distributed;

namespace MedClip.Tests.Distributed;

public sealed class RankAgreementTests
{
    [Fact]
    public void EqualValues_Pass() =>
        ThreadedRanks.Run(3, comm =>
        {
            RankAgreement.Check(comm, [("seed", 7), ("model config", RankAgreement.Hash("tiny"))]);
            return 0;
        });

    [Fact]
    public void ADifferentValue_IsNamedOnEveryRank()
    {
        var messages = ThreadedRanks.Run(3, comm =>
            Assert.Throws<DistributedSetupException>(() =>
                RankAgreement.Check(comm, [("seed", 7), ("global batch size (--batch-size)", comm.Rank == 2 ? 48 : 32)])).Message);
        Assert.All(messages, m => Assert.Equal(
            "The ranks disagree on the global batch size (--batch-size): 32 on rank 0 but 48 on rank 2; launch every rank with the same options and data.", m));
    }
}
