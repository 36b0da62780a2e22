using System.Runtime.CompilerServices;
using MedClip.Backends.Cpu;

namespace MedClip.Tests.Backends.Cpu;

public class CpuBufferPoolTests
{
    private const int Length = CpuBufferPool.MinPooledLength;
    private static readonly CpuBackend Owner = CpuBackend.Instance;

    [Fact]
    public void ScopedArray_ComesBackWhenTheScopeEnds_ZeroedOrAsItWas()
    {
        var pool = new CpuBufferPool();
        CpuStorage<float> storage;
        using (pool.OpenScope()) storage = Rented(pool, fill: 7f);
        Assert.True(storage.IsReleased);

        var overwritten = pool.Rent<float>(Length, zeroed: false);
        Assert.Equal(7f, overwritten[^1]); // not cleared: the caller writes every element
        Track(pool, overwritten);
        Assert.Same(overwritten, Reclaimed(pool));

        using (pool.OpenScope()) Track(pool, overwritten);
        var zeroed = pool.Rent<float>(Length, zeroed: true);
        Assert.Same(overwritten, zeroed);
        Assert.All(zeroed, x => Assert.Equal(0f, x));
    }

    /// <summary>
    /// A length that no scope rents any more (text padded to another batch's length) is dropped after
    /// KeepUnusedScopes scopes; a length rented in every scope stays.
    /// </summary>
    [Fact]
    public void FreeArraysOfALengthNoLongerRented_AreDropped()
    {
        var pool = new CpuBufferPool();
        float[] once, every;
        using (pool.OpenScope())
        {
            once = RentedArray(pool, Length + 1);
            every = RentedArray(pool, Length);
        }
        for (int i = 0; i < CpuBufferPool.KeepUnusedScopes + 1; i++)
        {
            using (pool.OpenScope()) Assert.Same(every, RentedArray(pool, Length));
        }
        Assert.NotSame(once, pool.Rent<float>(Length + 1, zeroed: false));
    }

    [Fact]
    public void FreeArraysOfARecentLength_AreKept()
    {
        var pool = new CpuBufferPool();
        float[] kept;
        using (pool.OpenScope()) kept = RentedArray(pool, Length + 1);
        for (int i = 0; i < CpuBufferPool.KeepUnusedScopes - 1; i++)
        {
            using (pool.OpenScope()) RentedArray(pool, Length);
        }
        Assert.Same(kept, pool.Rent<float>(Length + 1, zeroed: false));
    }

    [Fact]
    public void ReleasedStorage_FailsInOneSentence()
    {
        var pool = new CpuBufferPool();
        CpuStorage<float> storage;
        using (pool.OpenScope()) storage = Rented(pool, fill: 1f);
        var error = Assert.Throws<InvalidOperationException>(() => storage.Data);
        Assert.Contains("after the scope that allocated it ended", error.Message);
    }

    [Fact]
    public void InnerScope_OwnsWhatIsAllocatedWhileItIsOpen()
    {
        var pool = new CpuBufferPool();
        using var outer = pool.OpenScope();
        CpuStorage<float> inner;
        using (pool.OpenScope()) inner = Rented(pool, fill: 1f);
        var kept = Rented(pool, fill: 2f);
        Assert.True(inner.IsReleased);
        Assert.False(kept.IsReleased);
        Assert.Equal(2f, kept.Data[0]);
    }

    [Fact]
    public void ClosingAnOuterScopeFirst_IsAnError()
    {
        var pool = new CpuBufferPool();
        var outer = pool.OpenScope();
        using var inner = pool.OpenScope();
        Assert.Throws<InvalidOperationException>(outer.Dispose);
    }

    [Fact]
    public async Task ScopeOfAnotherThread_DoesNotOwnThisThreadsStorage()
    {
        var pool = new CpuBufferPool();
        var scope = pool.OpenScope();
        var other = await Task.Factory.StartNew(() => Rented(pool, fill: 3f), TaskCreationOptions.LongRunning);
        scope.Dispose();
        Assert.False(other.IsReleased);
    }

    [Fact]
    public void UnscopedArray_StaysWithItsLiveOwner()
    {
        var pool = new CpuBufferPool();
        var held = Rented(pool, fill: 1f);
        Collect();
        pool.Sweep();

        Assert.NotSame(held.Data, pool.Rent<float>(Length, zeroed: true));
        Assert.NotSame(held.Data, pool.Rent<float>(Length, zeroed: false));
        GC.KeepAlive(held);
    }

    [Fact]
    public void OtherLengthOrType_GetsANewArray()
    {
        var pool = new CpuBufferPool();
        using (pool.OpenScope()) Rented(pool, fill: 1f);

        Assert.Equal(Length + 1, pool.Rent<float>(Length + 1, zeroed: false).Length);
        Assert.All(pool.Rent<int>(Length, zeroed: true), x => Assert.Equal(0, x));
    }

    [Fact]
    public void SmallArrays_AreLeftToTheGc()
    {
        var pool = new CpuBufferPool();
        var small = pool.Rent<float>(16, zeroed: true);
        using (pool.OpenScope()) pool.Track(new CpuStorage<float>(Owner, small));
        Assert.NotSame(small, pool.Rent<float>(16, zeroed: false));
    }

    private static float[] RentedArray(CpuBufferPool pool, int length)
    {
        var array = pool.Rent<float>(length, zeroed: false);
        pool.Track(new CpuStorage<float>(Owner, array));
        return array;
    }

    private static CpuStorage<float> Rented(CpuBufferPool pool, float fill)
    {
        var array = pool.Rent<float>(Length, zeroed: false);
        array.AsSpan().Fill(fill);
        var storage = new CpuStorage<float>(Owner, array);
        pool.Track(storage);
        return storage;
    }

    // In a method of its own so that no local or temporary of the caller keeps the storage alive.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Track(CpuBufferPool pool, float[] array) => pool.Track(new CpuStorage<float>(Owner, array));

    // The array of an unscoped storage that has died comes back after a collection and a sweep.
    private static float[] Reclaimed(CpuBufferPool pool)
    {
        Collect();
        pool.Sweep();
        return pool.Rent<float>(Length, zeroed: false);
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }
}
