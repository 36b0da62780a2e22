using System.Runtime.CompilerServices;
using MedClip.Backends.Cpu;

namespace MedClip.Tests.Backends.Cpu;

public class CpuBufferPoolTests
{
    private const int Length = CpuBufferPool.MinPooledLength;

    [Fact]
    public void DeadOwnersArray_IsLentAgain_ZeroedOrAsItWas()
    {
        var pool = new CpuBufferPool();
        var first = LendToDeadOwner(pool, fill: 7f);
        Collect();
        pool.Sweep();

        var overwritten = pool.Rent<float>(Length, zeroed: false);
        Assert.Same(first, overwritten);
        Assert.Equal(7f, overwritten[^1]); // not cleared: the caller writes every element

        LendToDeadOwner(pool, overwritten);
        Collect();
        pool.Sweep();
        var zeroed = pool.Rent<float>(Length, zeroed: true);
        Assert.Same(first, zeroed);
        Assert.All(zeroed, x => Assert.Equal(0f, x));
    }

    [Fact]
    public void LiveOwnersArray_StaysWithIt()
    {
        var pool = new CpuBufferPool();
        var owner = new object();
        var held = pool.Rent<float>(Length, zeroed: true);
        pool.Lend(owner, held, Length * sizeof(float));
        Collect();
        pool.Sweep();

        Assert.NotSame(held, pool.Rent<float>(Length, zeroed: true));
        Assert.NotSame(held, pool.Rent<float>(Length, zeroed: false));
        GC.KeepAlive(owner);
    }

    [Fact]
    public void OtherLengthOrType_GetsANewArray()
    {
        var pool = new CpuBufferPool();
        LendToDeadOwner(pool, fill: 1f);
        Collect();
        pool.Sweep();

        Assert.Equal(Length + 1, pool.Rent<float>(Length + 1, zeroed: false).Length);
        Assert.All(pool.Rent<int>(Length, zeroed: true), x => Assert.Equal(0, x));
    }

    [Fact]
    public void SmallArrays_AreLeftToTheGc()
    {
        var pool = new CpuBufferPool();
        var small = pool.Rent<float>(16, zeroed: true);
        LendToDeadOwner(pool, small);
        Collect();
        pool.Sweep();
        Assert.NotSame(small, pool.Rent<float>(16, zeroed: false));
    }

    private static float[] LendToDeadOwner(CpuBufferPool pool, float fill)
    {
        var array = pool.Rent<float>(Length, zeroed: false);
        array.AsSpan().Fill(fill);
        LendToDeadOwner(pool, array);
        return array;
    }

    // In a method of its own so that no local or temporary of the caller keeps the owner alive.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void LendToDeadOwner(CpuBufferPool pool, float[] array) => pool.Lend(new object(), array, array.Length * sizeof(float));

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }
}
