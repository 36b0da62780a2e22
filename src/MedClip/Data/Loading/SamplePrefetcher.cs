using System.Runtime.ExceptionServices;

namespace MedClip.Data.Loading;

/// <summary>
/// One epoch's background work: worker threads prepare the items of <c>order</c> ahead of the consumer, which takes
/// the results strictly by position. A semaphore with <c>window</c> permits bounds the lookahead: a worker takes a
/// permit before claiming the next position and the consumer returns it after taking a result, so at most
/// <c>window</c> positions are claimed but not yet taken, and position p can use ring slot p % window because
/// position p - window has already been taken.
/// </summary>
internal sealed class SamplePrefetcher<TItem> : IDisposable
{
    /// <summary>A prepared sample, a skip, or a failure to rethrow on the consumer's thread.</summary>
    internal sealed record Result(int ItemIndex, PreparedSample? Sample, SampleSkippedException? Skip, ExceptionDispatchInfo? Failure);

    private const int CancelPollMilliseconds = 100;
    private readonly IReadOnlyList<TItem> _items;
    private readonly Func<TItem, Random, PreparedSample> _prepare;
    private readonly int[] _order;
    private readonly int _seed;
    private readonly int _epoch;
    private readonly Result?[] _slots;
    private readonly SemaphoreSlim _window;
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private readonly Thread[] _workers;
    private int _nextPosition;
    private bool _disposed;

    public SamplePrefetcher(IReadOnlyList<TItem> items, Func<TItem, Random, PreparedSample> prepare, int[] order,
        int seed, int epoch, int workerCount, int window)
    {
        _items = items;
        _prepare = prepare;
        _order = order;
        _seed = seed;
        _epoch = epoch;
        _slots = new Result?[window];
        _window = new SemaphoreSlim(window, window);
        _workers = new Thread[workerCount];
        for (int i = 0; i < workerCount; i++)
        {
            _workers[i] = new Thread(Work) { IsBackground = true, Name = $"MedClip loader {i}" };
            _workers[i].Start();
        }
    }

    /// <summary>
    /// Waits for the result at <paramref name="position"/>; positions must be taken in order, once each. Throws
    /// <see cref="OperationCanceledException"/> within a tenth of a second of <paramref name="cancel"/>, however long the item takes.
    /// </summary>
    public Result Take(int position, CancellationToken cancel = default)
    {
        Result? result;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int slot = position % _slots.Length;
            while ((result = _slots[slot]) is null)
            {
                Monitor.Wait(_gate, CancelPollMilliseconds);
                ObjectDisposedException.ThrowIf(_disposed, this);
                cancel.ThrowIfCancellationRequested();
            }
            _slots[slot] = null;
            _window.Release();
        }
        return result;
    }

    /// <summary>
    /// Stops the workers and waits for them; a worker in the middle of an item finishes that item first. A worker
    /// still inside an item after <see cref="JoinPatience"/> (a read that blocks) is left to end on its own: it is a
    /// background thread, and the semaphore and token it will touch are then not disposed.
    /// </summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            _stop.Cancel();
            Monitor.PulseAll(_gate);
        }
        var waited = System.Diagnostics.Stopwatch.StartNew();
        bool joined = _workers.All(worker => worker.Join(TimeSpan.FromTicks(Math.Max(0, (JoinPatience - waited.Elapsed).Ticks))));
        if (!joined)
            return;
        _window.Dispose();
        _stop.Dispose();
    }

    private static readonly TimeSpan JoinPatience = TimeSpan.FromSeconds(2);

    private void Work()
    {
        try
        {
            while (true)
            {
                _window.Wait(_stop.Token);
                int position = Interlocked.Increment(ref _nextPosition) - 1;
                if (position >= _order.Length)
                {
                    // Hand the permit on so that the next waiting worker also sees the end and exits.
                    _window.Release();
                    return;
                }
                Result result = Prepare(_order[position]);
                lock (_gate)
                {
                    _slots[position % _slots.Length] = result;
                    Monitor.PulseAll(_gate);
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    private Result Prepare(int itemIndex)
    {
        try
        {
            var rng = new Random(LoaderSeeds.ForSample(_seed, _epoch, itemIndex));
            return new Result(itemIndex, _prepare(_items[itemIndex], rng), null, null);
        }
        catch (SampleSkippedException skip)
        {
            return new Result(itemIndex, null, skip, null);
        }
        catch (Exception e)
        {
            return new Result(itemIndex, null, null, ExceptionDispatchInfo.Capture(e));
        }
    }
}
