using System.Diagnostics;
using MedClip.Data;
using MedClip.Data.Images;
using MedClip.Data.Loading;
using MedClip.Data.Manifest;
using MedClip.Tests.Data.Images;

namespace MedClip.Tests.Data;

/// <summary>Files that block, symlinks that escape, and a loader that must stop when asked.</summary>
public sealed class FileSafetyTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-files-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Fifo(string name)
    {
        string path = Path.Combine(_dir, name);
        using var mkfifo = Process.Start("mkfifo", [path]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    [Fact]
    public async Task AFifoAmongTheImages_IsSkippedAndCounted_NotOpened()
    {
        var images = new[] { "a.png", "b.png", "c.png" }.Select(n => TestImages.WriteGrayPng(Path.Combine(_dir, n), 8, 8, (x, y) => (byte)(x * y))).ToList();
        images.Insert(1, Fifo("pipe.png"));
        var preprocessor = new ImagePreprocessor(8, PreprocessorConfig.ClipMean, PreprocessorConfig.ClipStd);
        using var loader = new PrefetchingBatchLoader<string>(images, 3, seed: 0, (path, _) =>
        {
            var pixels = new float[preprocessor.OutputLength];
            preprocessor.Preprocess(path, pixels);
            return new PreparedSample(pixels, [1], [1]);
        }, workerCount: 2, shuffle: false);
        var batches = await Task.Run(() => loader.Epoch(0).ToList()).WaitAsync(Patience);
        Assert.Equal(3, batches.Single().Count);
        Assert.Equal(1, loader.Skipped.Counts.Single(c => c.Key == ImageRejectedException.NotRegularFile).Value);
    }

    [Fact]
    public void AManifestOrCsvThatIsAFifo_IsRefusedInOneSentence()
    {
        string pipe = Fifo("pairs.csv");
        var e = Assert.Throws<InvalidDataException>(() => DatasetSpec.Parse("manifest:" + pipe).Load(_dir, 8, seed: 0));
        Assert.Equal($"'{pipe}' is a FIFO (named pipe), not a regular file; only regular files (or symlinks to them) are read.", e.Message);
    }

    [Fact]
    public void ASymlinkInsideTheManifestFolder_CannotLeadOutOfIt()
    {
        string root = Directory.CreateDirectory(Path.Combine(_dir, "set")).FullName;
        string outside = TestImages.WriteGrayPng(Path.Combine(_dir, "secret.png"), 8, 8, (x, y) => 0);
        string inside = TestImages.WriteGrayPng(Path.Combine(root, "inside.png"), 8, 8, (x, y) => 0);
        File.CreateSymbolicLink(Path.Combine(root, "escape.png"), outside);
        Directory.CreateSymbolicLink(Path.Combine(root, "up"), _dir);
        File.CreateSymbolicLink(Path.Combine(root, "alias.png"), inside);
        Assert.Null(ManifestReader.Resolve(root, "escape.png", allowOutsideRoot: false));
        Assert.Null(ManifestReader.Resolve(root, "up/secret.png", allowOutsideRoot: false));
        Assert.Equal(Path.Combine(root, "alias.png"), ManifestReader.Resolve(root, "alias.png", allowOutsideRoot: false));
        Assert.Equal(Path.Combine(root, "escape.png"), ManifestReader.Resolve(root, "escape.png", allowOutsideRoot: true));
    }

    [Fact]
    public async Task Cancellation_ReachesALoaderWaitingOnABlockedItem()
    {
        using var blocked = new ManualResetEventSlim();
        using var cancel = new CancellationTokenSource();
        using var loader = new PrefetchingBatchLoader<int>([0, 1, 2, 3], 2, seed: 0, (item, _) =>
        {
            if (item == 0) blocked.Wait();
            return new PreparedSample([item], [1], [1]);
        }, workerCount: 1, shuffle: false, cancel: cancel.Token);
        var clock = Stopwatch.StartNew();
        var consumer = Task.Run(() => loader.Epoch(0).ToList());
        cancel.CancelAfter(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => consumer.WaitAsync(Patience));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        blocked.Set();
    }
}
