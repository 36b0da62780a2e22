using System.Security.Cryptography;
using System.Text;

namespace MedClip.Distributed;

/// <summary>
/// Start-up check that every rank was launched with the same configuration: each rank contributes named values
/// (global batch size, seed, a hash of the model config, of the data, ...), all ranks gather them, and every rank
/// reports the first value on which some rank differs from rank 0, so the job stops at once with that name.
/// </summary>
public static class RankAgreement
{
    public static void Check(ICommunicator communicator, IReadOnlyList<(string Name, long Value)> values)
    {
        if (communicator.WorldSize == 1) return;
        long[] all = communicator.AllGather([.. values.Select(v => v.Value)]);
        int count = values.Count;
        for (int i = 0; i < count; i++)
        {
            for (int rank = 1; rank < communicator.WorldSize; rank++)
            {
                long atRoot = all[i], atRank = all[rank * count + i];
                if (atRoot != atRank)
                    throw new DistributedSetupException(
                        $"The ranks disagree on the {values[i].Name}: {atRoot} on rank 0 but {atRank} on rank {rank}; launch every rank with the same options and data.");
            }
        }
    }

    /// <summary>A 63-bit hash of text (SHA-256's first bytes), to compare configurations across ranks.</summary>
    public static long Hash(string text) =>
        (long)(BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes(text))) >> 1);
}
