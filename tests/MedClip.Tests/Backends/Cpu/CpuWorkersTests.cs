using System.Collections.Concurrent;
using System.Diagnostics;
using MedClip.Backends.Cpu;

namespace MedClip.Tests.Backends.Cpu;

public class CpuWorkersTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(17)]
    [InlineData(1000)]
    public void For_RunsEveryIndexExactlyOnce(int count)
    {
        var runs = new int[count];
        CpuWorkers.For(count, i => Interlocked.Increment(ref runs[i]));
        Assert.All(runs, r => Assert.Equal(1, r));
    }

    [Fact]
    public void For_SharesALoopWithAnotherThread()
    {
        if (Environment.ProcessorCount < 2) return;
        var threads = new ConcurrentDictionary<int, bool>();
        // Index 0 waits until some other thread has taken index 1: only a worker can, since the caller is busy here.
        CpuWorkers.For(2, i =>
        {
            threads[Environment.CurrentManagedThreadId] = true;
            if (i != 0) return;
            var clock = Stopwatch.StartNew();
            while (threads.Count < 2 && clock.Elapsed < TimeSpan.FromSeconds(10)) Thread.Yield();
        });
        Assert.Equal(2, threads.Count);
    }

    [Fact]
    public void For_NestedLoopRunsOnItsCallingThread()
    {
        var sums = new long[8];
        CpuWorkers.For(8, i =>
        {
            int thread = Environment.CurrentManagedThreadId;
            CpuWorkers.For(100, j =>
            {
                Assert.Equal(thread, Environment.CurrentManagedThreadId);
                sums[i] += j;
            });
        });
        Assert.All(sums, s => Assert.Equal(4950, s));
    }

    [Fact]
    public void For_ThrowsABodysException_AndStaysUsable()
    {
        var runs = new int[64];
        var error = Assert.Throws<AggregateException>(() => CpuWorkers.For(64, i =>
        {
            Interlocked.Increment(ref runs[i]);
            if (i == 5) throw new InvalidOperationException("body 5 failed");
        }));
        Assert.Equal("body 5 failed", Assert.IsType<InvalidOperationException>(error.InnerException).Message);
        Assert.Equal(1, runs[5]);
        Assert.All(runs, r => Assert.InRange(r, 0, 1));

        int total = 0;
        CpuWorkers.For(64, i => Interlocked.Add(ref total, i));
        Assert.Equal(2016, total);
    }

    [Fact]
    public void For_ConcurrentCallersEachGetTheirWholeLoop()
    {
        var totals = new long[6];
        Parallel.For(0, totals.Length, caller =>
        {
            for (int round = 0; round < 50; round++)
                CpuWorkers.For(32, i => Interlocked.Add(ref totals[caller], i + 1));
        });
        Assert.All(totals, t => Assert.Equal(50L * 528, t));
    }
}
