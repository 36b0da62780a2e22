using MedClip.Data.Images;
using MedClip.Data.Loading;
using MedClip.Tests.Data.Images;

namespace MedClip.Tests.Data.Loading;

public sealed class PrefetchingBatchLoaderTests
{
    // Generous: a hang shows up as a TimeoutException instead of a stuck test run.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>A sample made of the item and its Random's first draws, after a delay that varies with the item so workers finish out of order.</summary>
    private static PreparedSample Prepare(int item, Random rng)
    {
        Thread.Sleep(item % 3);
        return new PreparedSample([item, rng.NextSingle(), rng.NextSingle()], [item, rng.Next(1000)], [1, 0]);
    }

    private static List<Batch> Run(PrefetchingBatchLoader<int> loader, int epoch) => [.. loader.Epoch(epoch)];

    private static int[] Items(int count) => [.. Enumerable.Range(0, count)];

    // Epoch() checks for disposal before it starts anything, so asking for an enumeration (never run) is a safe probe.
    private static bool IsDisposed(PrefetchingBatchLoader<int> loader)
    {
        try
        {
            loader.Epoch(0);
            return false;
        }
        catch (ObjectDisposedException)
        {
            return true;
        }
    }

    [Fact]
    public void OneAndThreeWorkers_GiveIdenticalBatches()
    {
        using var serial = new PrefetchingBatchLoader<int>(Items(37), 5, seed: 11, Prepare, workerCount: 1);
        using var parallel = new PrefetchingBatchLoader<int>(Items(37), 5, seed: 11, Prepare, workerCount: 3, prefetchBatches: 2);

        for (int epoch = 0; epoch < 2; epoch++)
        {
            List<Batch> expected = Run(serial, epoch), actual = Run(parallel, epoch);
            Assert.Equal(8, actual.Count);
            Assert.Equal(2, actual[^1].Count);
            for (int b = 0; b < expected.Count; b++)
            {
                Assert.Equal(expected[b].SampleIndices, actual[b].SampleIndices);
                Assert.Equal(expected[b].Pixels, actual[b].Pixels);
                Assert.Equal(expected[b].TokenIds, actual[b].TokenIds);
                Assert.Equal(expected[b].AttentionMask, actual[b].AttentionMask);
            }
        }
    }

    [Theory]
    [InlineData(2, 0)]
    [InlineData(3, 0)]
    [InlineData(3, 2)]
    public void ShardedLoaders_SplitEverySingleProcessBatchIntoContiguousRankSlices(int ranks, int startBatch)
    {
        using var single = new PrefetchingBatchLoader<int>(Items(40), 6, seed: 3, Prepare, workerCount: 2, dropLast: true);
        var shards = Enumerable.Range(0, ranks)
            .Select(r => new PrefetchingBatchLoader<int>(Items(40), 6, seed: 3, Prepare, workerCount: 2, dropLast: true, shard: new BatchShard(r, ranks)))
            .ToArray();
        try
        {
            Assert.All(shards, s => Assert.Equal(single.BatchesPerEpoch, s.BatchesPerEpoch));
            for (int epoch = 0; epoch < 2; epoch++)
            {
                var expected = single.Epoch(epoch, startBatch).ToList();
                var slices = shards.Select(s => s.Epoch(epoch, startBatch).ToList()).ToArray();
                Assert.Equal(6 - startBatch, expected.Count);
                for (int b = 0; b < expected.Count; b++)
                {
                    Assert.All(slices, s => Assert.Equal(6 / ranks, s[b].Count));
                    Assert.Equal(expected[b].SampleIndices, slices.SelectMany(s => s[b].SampleIndices));
                    Assert.Equal(expected[b].Pixels, slices.SelectMany(s => s[b].Pixels));
                    Assert.Equal(expected[b].TokenIds, slices.SelectMany(s => s[b].TokenIds));
                }
            }
        }
        finally
        {
            foreach (var s in shards) s.Dispose();
        }
    }

    [Fact]
    public void ShardedLoader_RejectsABatchThatDoesNotSplitEvenly()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new PrefetchingBatchLoader<int>(Items(40), 7, seed: 3, Prepare, dropLast: true, shard: new BatchShard(0, 2)));
        Assert.Contains("does not split evenly over 2 ranks", e.Message);
    }

    [Fact]
    public void Batches_LaySamplesOutBackToBackInEpochOrder()
    {
        using var loader = new PrefetchingBatchLoader<int>(Items(6), 4, seed: 2, Prepare, workerCount: 2);

        List<Batch> batches = Run(loader, 0);

        int[] order = loader.EpochOrder(0);
        Assert.Equal(order, batches.SelectMany(b => b.SampleIndices));
        Batch first = batches[0];
        Assert.Equal(4 * 3, first.Pixels.Length);
        Assert.Equal(4 * 2, first.TokenIds.Length);
        for (int i = 0; i < first.Count; i++)
        {
            Assert.Equal(first.SampleIndices[i], (int)first.Pixels[i * 3]);
            Assert.Equal(first.SampleIndices[i], first.TokenIds[i * 2]);
        }
    }

    [Fact]
    public void Shuffle_DiffersBetweenEpochs_AndIsReproducible()
    {
        using var loader = new PrefetchingBatchLoader<int>(Items(40), 8, seed: 5, Prepare, workerCount: 2);
        using var again = new PrefetchingBatchLoader<int>(Items(40), 8, seed: 5, Prepare, workerCount: 2);
        using var otherSeed = new PrefetchingBatchLoader<int>(Items(40), 8, seed: 6, Prepare, workerCount: 2);

        int[] epoch0 = [.. Run(loader, 0).SelectMany(b => b.SampleIndices)];
        int[] epoch1 = [.. Run(loader, 1).SelectMany(b => b.SampleIndices)];

        Assert.NotEqual(epoch0, epoch1);
        Assert.Equal(Items(40), epoch0.Order());
        Assert.Equal(Items(40), epoch1.Order());
        Assert.Equal(epoch1, Run(again, 1).SelectMany(b => b.SampleIndices));
        Assert.NotEqual(epoch1, Run(otherSeed, 1).SelectMany(b => b.SampleIndices));
    }

    [Fact]
    public void StartingMidEpoch_GivesTheRemainingBatches_WithoutPreparingTheEarlierItems()
    {
        var prepared = new System.Collections.Concurrent.ConcurrentBag<int>();
        using var loader = new PrefetchingBatchLoader<int>(Items(23), 4, seed: 9, (item, rng) =>
        {
            prepared.Add(item);
            return Prepare(item, rng);
        }, workerCount: 2);

        List<Batch> whole = Run(loader, 2);
        prepared.Clear();
        List<Batch> resumed = [.. loader.Epoch(2, startBatch: 3)];

        Assert.Equal(6, loader.BatchesPerEpoch);
        Assert.Equal(whole.Skip(3).Select(b => b.SampleIndices), resumed.Select(b => b.SampleIndices));
        Assert.Equal(whole.Skip(3).SelectMany(b => b.Pixels), resumed.SelectMany(b => b.Pixels));
        Assert.Equal(loader.EpochOrder(2)[12..].Order(), prepared.Order());
        Assert.Empty(loader.Epoch(2, startBatch: 6));
        Assert.Empty(loader.Epoch(2, startBatch: int.MaxValue));
    }

    [Fact]
    public void WithoutShuffle_ItemsComeInListOrder()
    {
        using var loader = new PrefetchingBatchLoader<int>(Items(10), 3, seed: 5, Prepare, workerCount: 2, shuffle: false);
        Assert.Equal(Items(10), Run(loader, 3).SelectMany(b => b.SampleIndices));
    }

    [Fact]
    public void SkippedItems_AreCountedByReason_AndBatchesStayFull()
    {
        static PreparedSample PrepareSomeBad(int item, Random rng) => item switch
        {
            7 => throw new SampleSkippedException("missing file"),
            _ when item % 5 == 0 => throw new SampleSkippedException("corrupt image"),
            _ => Prepare(item, rng),
        };
        using var loader = new PrefetchingBatchLoader<int>(Items(20), 4, seed: 1, PrepareSomeBad, workerCount: 3);
        using var dropping = new PrefetchingBatchLoader<int>(Items(20), 4, seed: 1, PrepareSomeBad, workerCount: 3, dropLast: true);

        List<Batch> batches = Run(loader, 0);

        Assert.Equal([4, 4, 4, 3], batches.Select(b => b.Count));
        int[] kept = [.. batches.SelectMany(b => b.SampleIndices)];
        Assert.Equal(loader.EpochOrder(0).Where(i => i != 7 && i % 5 != 0), kept);
        Assert.Equal(5, loader.Skipped.Total);
        Assert.Equal([new("corrupt image", 4L), new KeyValuePair<string, long>("missing file", 1L)], loader.Skipped.Counts);
        Assert.Equal("5 skipped (corrupt image: 4, missing file: 1)", loader.Skipped.Summary());
        Assert.Equal([4, 4, 4], Run(dropping, 0).Select(b => b.Count));
    }

    [Fact]
    public void AugmentedImageFiles_AreReproducible_AndUnusableOnesSkippedWithTheDecodersReasons()
    {
        string folder = Directory.CreateTempSubdirectory("medclip-loader-").FullName;
        try
        {
            string[] paths =
            [
                TestImages.WriteJpeg(Path.Combine(folder, "a.jpg"), 40, 30),
                TestImages.WriteGrayPng(Path.Combine(folder, "b.png"), 20, 20, (x, y) => (byte)(x + y)),
                Path.Combine(folder, "missing.jpg"),
                Path.Combine(folder, "empty.jpg"),
                TestImages.WriteJpeg(Path.Combine(folder, "c.jpg"), 30, 40, seed: 2),
            ];
            File.WriteAllBytes(paths[3], []);
            var preprocessor = new ImagePreprocessor(16, PreprocessorConfig.ClipMean, PreprocessorConfig.ClipStd);
            var preparer = new ImageTextPreparer<string>(preprocessor, new ImageAugmentation(), path => path, (_, _) => ([101, 102], [1, 1]));
            using var loader = new PrefetchingBatchLoader<string>(paths, 2, seed: 3, preparer.Prepare, workerCount: 2, shuffle: false);

            List<Batch> batches = [.. loader.Epoch(0)];

            Assert.Equal([0, 1, 4], batches.SelectMany(b => b.SampleIndices));
            Assert.Equal(2 * preprocessor.OutputLength, batches[0].Pixels.Length);
            Assert.Equal([101, 102, 101, 102], batches[0].TokenIds);
            Assert.Equal("2 skipped (empty file: 1, missing file: 1)", loader.Skipped.Summary());
            Assert.Contains("missing.jpg", loader.Skipped.FirstMessage(ImageRejectedException.MissingFile));
            using var serial = new PrefetchingBatchLoader<string>(paths, 2, seed: 3, preparer.Prepare, workerCount: 1, shuffle: false);
            Assert.Equal(batches.SelectMany(b => b.Pixels), serial.Epoch(0).SelectMany(b => b.Pixels));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData(true, null, true)]
    [InlineData(false, null, false)]
    [InlineData(false, true, true)]
    [InlineData(true, false, false)]
    public void TheTokenizerGetsTheGenerator_WhenTextIsAugmented(bool augmentImage, bool? augmentText, bool expected)
    {
        string folder = Directory.CreateTempSubdirectory("medclip-preparer-").FullName;
        try
        {
            string path = TestImages.WriteJpeg(Path.Combine(folder, "a.jpg"), 20, 20);
            var preprocessor = new ImagePreprocessor(16, PreprocessorConfig.ClipMean, PreprocessorConfig.ClipStd);
            bool? sawGenerator = null;
            var preparer = new ImageTextPreparer<string>(preprocessor, augmentImage ? new ImageAugmentation() : null, p => p,
                (_, rng) => { sawGenerator = rng is not null; return ([101, 102], [1, 1]); }, augmentText);
            preparer.Prepare(path, new Random(1));
            Assert.Equal(expected, sawGenerator);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void EmptyDataset_IsOneClearError()
    {
        var error = Assert.Throws<ArgumentException>(() => new PrefetchingBatchLoader<int>([], 4, 0, Prepare));
        Assert.StartsWith("The dataset has no items", error.Message);
    }

    [Fact]
    public void EveryItemSkipped_SaysWhyAtTheEndOfTheEpoch()
    {
        using var loader = new PrefetchingBatchLoader<int>(Items(3), 2, 0, (_, _) => throw new SampleSkippedException("missing file", "Image file 'x.jpg' does not exist."));

        var error = Assert.Throws<InvalidDataException>(() => Run(loader, 0));

        Assert.Equal("None of the 3 items could be prepared, 3 skipped (missing file: 3); for example: Image file 'x.jpg' does not exist.", error.Message);
    }

    [Fact]
    public void TooFewUsableItemsForOneBatchWithDropLast_SaysWhatToChange()
    {
        using var loader = new PrefetchingBatchLoader<int>(Items(3), 8, 0, Prepare, dropLast: true);
        var error = Assert.Throws<InvalidDataException>(() => Run(loader, 0));
        Assert.Contains("lower the batch size", error.Message);
    }

    [Fact]
    public void OtherExceptions_StopTheEpochAndAreRethrown()
    {
        using var loader = new PrefetchingBatchLoader<int>(Items(50), 4, 0,
            (item, rng) => item == 13 ? throw new FormatException("bug") : Prepare(item, rng), workerCount: 3);
        Assert.Equal("bug", Assert.Throws<FormatException>(() => Run(loader, 0)).Message);
    }

    [Fact]
    public async Task BreakingOutMidEpoch_StopsTheWorkers()
    {
        int prepared = 0;
        using var loader = new PrefetchingBatchLoader<int>(Items(1000), 4, 0, (item, rng) =>
        {
            Interlocked.Increment(ref prepared);
            Thread.Sleep(2);
            return Prepare(item, rng);
        }, workerCount: 3);

        Task consumer = Task.Run(() =>
        {
            foreach (Batch batch in loader.Epoch(0))
            {
                if (batch.SampleIndices.Length > 0)
                    break;
            }
        });

        await consumer.WaitAsync(Patience);
        int afterBreak = Volatile.Read(ref prepared);
        await Task.Delay(100);
        Assert.Equal(afterBreak, Volatile.Read(ref prepared));
        Assert.True(afterBreak < 1000);
    }

    [Fact]
    public async Task DisposingTheLoader_StopsAnAbandonedEnumeration()
    {
        var loader = new PrefetchingBatchLoader<int>(Items(1000), 4, 0, (item, rng) =>
        {
            Thread.Sleep(2);
            return Prepare(item, rng);
        }, workerCount: 3);
        IEnumerator<Batch> abandoned = loader.Epoch(0).GetEnumerator();
        Assert.True(abandoned.MoveNext());

        await Task.Run(loader.Dispose).WaitAsync(Patience);

        Assert.Throws<ObjectDisposedException>(() => abandoned.MoveNext());
        Assert.Throws<ObjectDisposedException>(() => loader.Epoch(1));
    }

    [Fact]
    public async Task DisposingTheLoader_WakesAConsumerWaitingForASample()
    {
        using var release = new ManualResetEventSlim();
        var loader = new PrefetchingBatchLoader<int>(Items(10), 2, 0, (item, rng) =>
        {
            release.Wait(Patience);
            return Prepare(item, rng);
        }, workerCount: 1);
        Task consumer = Task.Run(() => Run(loader, 0));
        await Task.Delay(50);

        Task disposing = Task.Run(loader.Dispose);
        // Release the worker only once the loader is marked disposed; otherwise, on a busy machine, the worker could
        // prepare every item before Dispose runs and the consumer would finish normally.
        Assert.True(SpinWait.SpinUntil(() => IsDisposed(loader), Patience));
        release.Set();

        await disposing.WaitAsync(Patience);
        await Assert.ThrowsAnyAsync<ObjectDisposedException>(() => consumer.WaitAsync(Patience));
    }

    [Fact]
    public void Prefetching_StaysWithinItsWindow()
    {
        int prepared = 0;
        using var loader = new PrefetchingBatchLoader<int>(Items(100), 2, 0, (item, rng) =>
        {
            Interlocked.Increment(ref prepared);
            return Prepare(item, rng);
        }, workerCount: 4, prefetchBatches: 1);

        using IEnumerator<Batch> batches = loader.Epoch(0).GetEnumerator();
        Assert.True(batches.MoveNext());
        Thread.Sleep(100);

        // The first batch took positions 0 and 1; a one-batch window lets workers claim only positions 2 and 3.
        Assert.InRange(Volatile.Read(ref prepared), 2, 4);
    }
}
