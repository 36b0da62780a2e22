using System.Diagnostics;

namespace MedClip.Backends.Cpu;

/// <summary>
/// Fork-join over one dedicated thread per extra core. A worker spins for a short while after each loop before it
/// sleeps, so the back-to-back loops of a training step reach it at once (the thread pool's wake-up can take longer
/// than a small GEMM). One loop runs at a time: a loop started while another runs, or from inside one, runs on its
/// calling thread.
/// </summary>
internal static class CpuWorkers
{
    private static readonly int WorkerCount = Environment.ProcessorCount - 1;
    // How long an idle worker keeps looking for the next loop before it sleeps: 200 microseconds.
    private static readonly long SpinTicks = Stopwatch.Frequency / 5000;
    private static readonly object Gate = new();
    private static readonly SemaphoreSlim Wake = new(0);
    [ThreadStatic] private static bool inside;
    private static Loop? current;
    private static int sleeping;

    static CpuWorkers()
    {
        for (int i = 0; i < WorkerCount; i++) new Thread(Work) { IsBackground = true, Name = "medclip-cpu" }.Start();
    }

    /// <summary>
    /// Runs body(i) for i in [0, count), spread over the calling thread and the workers. A body's exception stops the
    /// loop from starting more and is thrown, inside an AggregateException, once the running bodies have returned.
    /// </summary>
    public static void For(int count, Action<int> body)
    {
        if (count <= 1 || WorkerCount == 0 || inside || !Monitor.TryEnter(Gate))
        {
            try
            {
                for (int i = 0; i < count; i++) body(i);
            }
            catch (Exception e)
            {
                throw new AggregateException(e);
            }
            return;
        }
        var loop = new Loop(body, count);
        try
        {
            inside = true;
            Interlocked.Exchange(ref current, loop);
            int asleep = Volatile.Read(ref sleeping);
            if (asleep > 0) Wake.Release(asleep);
            loop.Drain();
            // Spin, then yield to other threads (a worker on a busy machine may need this core to finish).
            var wait = new SpinWait();
            while (Volatile.Read(ref loop.Finished) < count) wait.SpinOnce(sleep1Threshold: -1);
        }
        finally
        {
            Volatile.Write(ref current, null);
            inside = false;
            Monitor.Exit(Gate);
        }
        if (loop.Failure is not null) throw new AggregateException(loop.Failure);
    }

    private static void Work()
    {
        inside = true;
        Loop? seen = null;
        while (true)
        {
            long idleSince = Stopwatch.GetTimestamp();
            Loop? loop;
            while ((loop = Volatile.Read(ref current)) is null || loop == seen)
            {
                if (Stopwatch.GetTimestamp() - idleSince < SpinTicks)
                {
                    Thread.SpinWait(20);
                    continue;
                }
                Interlocked.Increment(ref sleeping);
                loop = Volatile.Read(ref current);
                if (loop is null || loop == seen) Wake.Wait();
                Interlocked.Decrement(ref sleeping);
                idleSince = Stopwatch.GetTimestamp();
            }
            seen = loop;
            loop.Drain();
        }
    }

    /// <summary>One loop's state: indices are claimed one at a time, so a late worker only finds none left.</summary>
    private sealed class Loop(Action<int> body, int count)
    {
        private int next;
        public int Finished;
        public Exception? Failure;

        public void Drain()
        {
            int i;
            while ((i = Interlocked.Increment(ref next) - 1) < count)
            {
                if (Volatile.Read(ref Failure) is null)
                {
                    try { body(i); }
                    catch (Exception e) { Interlocked.CompareExchange(ref Failure, e, null); }
                }
                Interlocked.Increment(ref Finished);
            }
        }
    }
}
