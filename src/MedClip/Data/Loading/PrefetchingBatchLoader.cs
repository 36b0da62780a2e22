namespace MedClip.Data.Loading;

/// <summary>
/// Turns a list of items into batches of prepared samples, preparing them on background threads while the consumer
/// trains on earlier batches.
/// <list type="bullet">
/// <item>Reproducible: an epoch's order is a Fisher-Yates shuffle seeded from (seed, epoch), and each sample's
/// <see cref="Random"/> is seeded from (seed, epoch, item index), so batches are identical whatever the worker count
/// and whichever thread prepared what; batches come out in order.</item>
/// <item>Bad data is skipped, not fatal: a prepare function that throws <see cref="SampleSkippedException"/> has the
/// item counted in <see cref="Skipped"/> and the batch filled with the next items in epoch order, so every batch but
/// the last is full (and the epoch has fewer batches). Any other exception stops the epoch and is rethrown.</item>
/// <item>Data parallel: with a <see cref="BatchShard"/> the loader yields this rank's contiguous slice of every global
/// batch of the single-process run (same shuffle, same per-sample seeds), so the ranks' slices together are exactly
/// the single-process batches. Sharding needs drop-last, since a partial last batch would not split evenly.</item>
/// <item>Cancellable: waiting for a batch ends with <see cref="OperationCanceledException"/> soon after the token given
/// at construction is cancelled, even while a worker is stuck on a slow file.</item>
/// <item>Bounded memory: at most <c>prefetchBatches</c> batches' worth of samples are prepared ahead of the consumer.</item>
/// <item>Disposing the epoch's enumerator (foreach does, also when it breaks early), starting another epoch, or
/// disposing the loader stops that epoch's workers and waits for them.</item>
/// </list>
/// </summary>
public sealed class PrefetchingBatchLoader<TItem> : IBatchSource, IDisposable
{
    private readonly IReadOnlyList<TItem> _items;
    private readonly Func<TItem, Random, PreparedSample> _prepare;
    private readonly int _seed;
    private readonly int _prefetchBatches;
    private readonly bool _shuffle;
    private readonly bool _dropLast;
    private readonly BatchShard? _shard;
    private readonly CancellationToken _cancel;
    private readonly Lock _gate = new();
    private SamplePrefetcher<TItem>? _running;
    private bool _disposed;

    public PrefetchingBatchLoader(IReadOnlyList<TItem> items, int batchSize, int seed, Func<TItem, Random, PreparedSample> prepare,
        int? workerCount = null, int prefetchBatches = 4, bool shuffle = true, bool dropLast = false, BatchShard? shard = null,
        CancellationToken cancel = default)
    {
        _cancel = cancel;
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(prepare);
        if (items.Count == 0)
            throw new ArgumentException("The dataset has no items, so there is nothing to load; check the data path and the split.", nameof(items));
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(prefetchBatches, 1);
        if (workerCount is < 1)
            throw new ArgumentOutOfRangeException(nameof(workerCount), workerCount, "At least one worker is needed.");
        _items = items;
        _prepare = prepare;
        _seed = seed;
        _prefetchBatches = prefetchBatches;
        _shuffle = shuffle;
        _dropLast = dropLast;
        _shard = shard;
        GlobalBatchSize = batchSize;
        BatchSize = batchSize;
        if (shard is not null)
        {
            if (!dropLast) throw new ArgumentException("A sharded loader must drop the last partial batch.", nameof(dropLast));
            if (batchSize % shard.Count != 0)
                throw new ArgumentException($"The global batch of {batchSize} does not split evenly over {shard.Count} ranks.", nameof(batchSize));
            BatchSize = batchSize / shard.Count;
        }
        WorkerCount = workerCount ?? Environment.ProcessorCount;
    }

    /// <summary>Samples in each batch this loader yields (this rank's slice when sharded).</summary>
    public int BatchSize { get; }

    /// <summary>Samples in one batch of the whole job: <see cref="BatchSize"/> times the shard count.</summary>
    public int GlobalBatchSize { get; }
    public int WorkerCount { get; }
    public int ItemCount => _items.Count;

    /// <summary>Batches an epoch yields when no item is skipped.</summary>
    public int BatchesPerEpoch => _dropLast ? _items.Count / GlobalBatchSize : (_items.Count + BatchSize - 1) / BatchSize;

    /// <summary>Samples skipped so far in the latest epoch, by reason.</summary>
    public SkipCounter Skipped { get; private set; } = new();

    /// <summary>The item indices in the order epoch <paramref name="epoch"/> visits them.</summary>
    public int[] EpochOrder(int epoch)
    {
        int[] order = [.. Enumerable.Range(0, _items.Count)];
        if (_shuffle)
        {
            var rng = new Random(LoaderSeeds.ForShuffle(_seed, epoch));
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = rng.Next(i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
        }
        return order;
    }

    // This rank's slices of the epoch's global batches, back to back (the whole order when not sharded).
    private int[] ShardOrder(int[] order)
    {
        if (_shard is null) return order;
        int batches = order.Length / GlobalBatchSize;
        var slice = new int[batches * BatchSize];
        for (int b = 0; b < batches; b++)
            Array.Copy(order, b * GlobalBatchSize + _shard.Rank * BatchSize, slice, b * BatchSize, BatchSize);
        return slice;
    }

    /// <summary>
    /// The batches of epoch <paramref name="epoch"/>. Workers start on the first MoveNext. Throws
    /// <see cref="InvalidDataException"/> at the end if no batch could be made because every item was skipped.
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch) => Epoch(epoch, 0);

    /// <summary>
    /// The batches of epoch <paramref name="epoch"/> from batch <paramref name="startBatch"/> on; the items of earlier
    /// batches are not prepared (resume). The position is exact when no earlier item of the epoch is skipped.
    /// </summary>
    public IEnumerable<Batch> Epoch(int epoch, int startBatch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(startBatch);
        return EpochFromPosition(epoch, (int)Math.Min(int.MaxValue, (long)startBatch * BatchSize));
    }

    /// <summary>The batches of epoch <paramref name="epoch"/> from position <paramref name="startPosition"/> of its order (this rank's slice when sharded).</summary>
    public IEnumerable<Batch> EpochFromPosition(int epoch, int startPosition)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        ArgumentOutOfRangeException.ThrowIfNegative(startPosition);
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Batches(epoch, startPosition);
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
        }
        Stop(null);
    }

    private IEnumerable<Batch> Batches(int epoch, int startPosition)
    {
        int[] order = ShardOrder(EpochOrder(epoch));
        int start = Math.Min(order.Length, startPosition);
        order = order[start..];
        var skipped = new SkipCounter();
        var skippedSince = new List<string>();
        SamplePrefetcher<TItem> prefetcher = Start(epoch, order, skipped);
        try
        {
            var pending = new List<SamplePrefetcher<TItem>.Result>(BatchSize);
            int usable = 0, batches = 0;
            for (int position = 0; position < order.Length; position++)
            {
                SamplePrefetcher<TItem>.Result result = prefetcher.Take(position, _cancel);
                if (result.Failure is not null)
                    result.Failure.Throw();
                if (result.Skip is not null)
                {
                    skipped.Record(result.Skip);
                    skippedSince.Add(result.Skip.Reason);
                    continue;
                }
                usable++;
                pending.Add(result);
                if (pending.Count == BatchSize)
                {
                    yield return Assemble(pending, epoch, start + position + 1, skippedSince);
                    batches++;
                    pending.Clear();
                }
            }
            if (pending.Count > 0 && !_dropLast)
            {
                yield return Assemble(pending, epoch, start + order.Length, skippedSince);
                batches++;
            }
            // A resume that starts within the epoch may find only a remainder smaller than a batch, which is not an error.
            if (batches == 0 && order.Length > 0 && start == 0)
                throw new InvalidDataException(usable == 0
                    ? $"None of the {order.Length} items could be prepared, {skipped.Summary()}; for example: {skipped.FirstMessage(skipped.Counts[0].Key)}"
                    : $"Only {usable} of the {order.Length} items could be prepared, fewer than one batch of {BatchSize} with drop-last on ({skipped.Summary()}); lower the batch size or fix the skipped items.");
        }
        finally
        {
            Stop(prefetcher);
        }
    }

    /// <summary>Starts an epoch's workers, first stopping the epoch that was running (an abandoned enumeration).</summary>
    private SamplePrefetcher<TItem> Start(int epoch, int[] order, SkipCounter skipped)
    {
        Stop(null);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int window = checked(_prefetchBatches * BatchSize);
            _running = new SamplePrefetcher<TItem>(_items, _prepare, order, _seed, epoch, Math.Min(WorkerCount, window), window);
            Skipped = skipped;
            return _running;
        }
    }

    /// <summary>Stops <paramref name="prefetcher"/> (or, when null, whichever epoch is running) and waits for its workers.</summary>
    private void Stop(SamplePrefetcher<TItem>? prefetcher)
    {
        lock (_gate)
        {
            prefetcher ??= _running;
            if (ReferenceEquals(prefetcher, _running))
                _running = null;
        }
        prefetcher?.Dispose();
    }

    private static Batch Assemble(List<SamplePrefetcher<TItem>.Result> results, int epoch, int endPosition, List<string> skippedSince)
    {
        PreparedSample first = results[0].Sample!;
        int pixels = first.Pixels.Length, tokens = first.TokenIds.Length;
        var batch = new Batch(new float[results.Count * pixels], new int[results.Count * tokens], new int[results.Count * tokens],
            [.. results.Select(r => r.ItemIndex)]) { Epoch = epoch, EndPosition = endPosition, SkippedBefore = [.. skippedSince] };
        skippedSince.Clear();
        for (int i = 0; i < results.Count; i++)
        {
            PreparedSample sample = results[i].Sample!;
            if (sample.Pixels.Length != pixels || sample.TokenIds.Length != tokens || sample.AttentionMask.Length != tokens)
                throw new InvalidOperationException(
                    $"Item {results[i].ItemIndex} was prepared as {sample.Pixels.Length} pixels, {sample.TokenIds.Length} token ids and a mask of " +
                    $"{sample.AttentionMask.Length}, unlike item {results[0].ItemIndex} ({pixels} pixels, {tokens} tokens); every sample must have the same sizes.");
            sample.Pixels.CopyTo(batch.Pixels, i * pixels);
            sample.TokenIds.CopyTo(batch.TokenIds, i * tokens);
            sample.AttentionMask.CopyTo(batch.AttentionMask, i * tokens);
        }
        return batch;
    }
}
