using System.Buffers;
using System.IO.MemoryMappedFiles;

namespace MedClip.IO;

/// <summary>
/// A read-only memory mapping of a whole file. Slices of it are handed out as <see cref="ReadOnlyMemory{T}"/>, so a
/// multi-gigabyte checkpoint is paged in by the OS as tensors are read instead of being copied into arrays first.
/// Each slice keeps the mapping reachable; after <see cref="Dispose"/> reading a slice throws.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _pointer;
    private bool _disposed;

    public MappedFile(string path, long length)
    {
        Path = path;
        Length = length;
        PosixFileSystem.RequireRegularFile(path);
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
        try
        {
            _view = _file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _pointer);
            _pointer += _view.PointerOffset;
        }
        catch
        {
            _view?.Dispose();
            _file.Dispose();
            throw;
        }
    }

    public string Path { get; }

    public long Length { get; }

    /// <summary>The bytes [offset, offset + count) of the file; count must fit in an int.</summary>
    public ReadOnlyMemory<byte> Slice(long offset, int count)
    {
        if (offset < 0 || count < 0 || offset > Length - count)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, {offset + count}) is outside the {Length}-byte file '{Path}'.");
        return new Segment(this, offset, count).Memory;
    }

    public ReadOnlySpan<byte> Span(long offset, int count) => Slice(offset, count).Span;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    private sealed class Segment(MappedFile owner, long offset, int count) : MemoryManager<byte>
    {
        public override Span<byte> GetSpan()
        {
            ObjectDisposedException.ThrowIf(owner._disposed, owner);
            return new Span<byte>(owner._pointer + offset, count);
        }

        public override MemoryHandle Pin(int elementIndex = 0)
        {
            ObjectDisposedException.ThrowIf(owner._disposed, owner);
            return new MemoryHandle(owner._pointer + offset + elementIndex, pinnable: this);
        }

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
