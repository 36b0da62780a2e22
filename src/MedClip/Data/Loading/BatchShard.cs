namespace MedClip.Data.Loading;

/// <summary>
/// Rank <see cref="Rank"/> of <see cref="Count"/> in data-parallel training: of every global batch of B samples it
/// loads the contiguous slice [Rank * B / Count, (Rank + 1) * B / Count).
/// </summary>
public sealed record BatchShard(int Rank, int Count)
{
    public int Rank { get; } = Count >= 1 && Rank >= 0 && Rank < Count ? Rank
        : throw new ArgumentOutOfRangeException(nameof(Rank), $"Rank {Rank} is not one of the {Count} ranks.");
}
