using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;
using MedClip.Distributed;

namespace MedClip.Tests.Distributed;

/// <summary>
/// N simulated ranks in one process, one thread each, with a communicator whose collectives meet at a barrier: each
/// rank puts its buffer in a slot, all read every slot, and a second barrier keeps the slots until everyone has read
/// them. Sums run in rank order. A rank that does not arrive within the timeout fails the others' collectives.
/// </summary>
internal sealed class ThreadedRanks
{
    private readonly Barrier _barrier;
    private readonly Array?[] _slots;
    private readonly TimeSpan _timeout = TimeSpan.FromSeconds(60);

    private ThreadedRanks(int count)
    {
        _barrier = new Barrier(count);
        _slots = new Array?[count];
    }

    /// <summary>Runs <paramref name="body"/> on <paramref name="count"/> ranks and returns their results in rank order.</summary>
    public static T[] Run<T>(int count, Func<ICommunicator, T> body)
    {
        var group = new ThreadedRanks(count);
        var results = new T[count];
        var failures = new ExceptionDispatchInfo?[count];
        var threads = Enumerable.Range(0, count).Select(rank => new Thread(() =>
        {
            try
            {
                results[rank] = body(new SimulatedRank(group, rank, count));
            }
            catch (Exception e)
            {
                failures[rank] = ExceptionDispatchInfo.Capture(e);
                group._barrier.RemoveParticipant();
            }
        }, 16 << 20)).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        failures.FirstOrDefault(f => f is not null)?.Throw();
        return results;
    }

    private Array[] Exchange(int rank, Array data)
    {
        _slots[rank] = data;
        Meet();
        var all = _slots.Select(s => s!).ToArray();
        Meet();
        return all;
    }

    private void Meet()
    {
        if (!_barrier.SignalAndWait(_timeout)) throw new TimeoutException("A simulated rank did not reach the collective.");
    }

    private sealed class SimulatedRank(ThreadedRanks group, int rank, int count) : HostStagedCommunicator
    {
        public override int Rank => rank;
        public override int WorldSize => count;
        public override int LocalRank => rank;
        public override string Name => "threads";

        protected override void AllReduceSumHost<T>(T[] buffer, string what)
        {
            var all = group.Exchange(rank, (Array)buffer.Clone()).Cast<T[]>().ToArray();
            for (int i = 0; i < buffer.Length; i++)
            {
                T sum = all[0][i];
                for (int r = 1; r < count; r++) sum = Add(sum, all[r][i]);
                buffer[i] = sum;
            }
        }

        protected override void AllGatherHost<T>(T[] local, T[] gathered, string what)
        {
            var all = group.Exchange(rank, (Array)local.Clone());
            for (int r = 0; r < count; r++) Array.Copy(all[r], 0, gathered, r * local.Length, local.Length);
        }

        protected override void BroadcastHost<T>(T[] buffer, int root, string what)
        {
            var all = group.Exchange(rank, (Array)buffer.Clone());
            Array.Copy(all[root], buffer, buffer.Length);
        }

        [DoesNotReturn]
        public override void Abort(int exitCode) => throw new InvalidOperationException($"Rank {rank} aborted with exit code {exitCode}.");

        public override void Dispose() { }

        private static T Add<T>(T a, T b) => (a, b) switch
        {
            (float x, float y) => (T)(object)(x + y),
            (double x, double y) => (T)(object)(x + y),
            (long x, long y) => (T)(object)(x + y),
            _ => throw new NotSupportedException(typeof(T).Name),
        };
    }
}
