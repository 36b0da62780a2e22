namespace MedClip.Data.Loading;

/// <summary>
/// Seeds derived from (run seed, epoch, item index) with SplitMix64 steps, so each epoch's shuffle and each sample's
/// augmentation depend only on those numbers, never on which thread or in what order the work ran.
/// </summary>
internal static class LoaderSeeds
{
    public static int ForShuffle(int seed, int epoch) => Mix(seed, epoch, -1);

    public static int ForSample(int seed, int epoch, int itemIndex) => Mix(seed, epoch, itemIndex);

    private static int Mix(int seed, int epoch, int itemIndex)
    {
        ulong state = SplitMix64((uint)seed);
        state = SplitMix64(state ^ (uint)epoch);
        state = SplitMix64(state ^ (uint)itemIndex);
        return (int)(state >> 33); // 31 bits: a non-negative int
    }

    private static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
