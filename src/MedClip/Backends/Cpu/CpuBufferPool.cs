namespace MedClip.Backends.Cpu;

/// <summary>
/// Large arrays for CPU storages, reused across training steps instead of allocated afresh: a step's activations and
/// gradients are hundreds of megabytes of large-object-heap arrays, whose allocation touches fresh pages and triggers
/// full collections.
/// <para>Release: storage allocated on a thread while a <see cref="Scope"/> is its innermost open one comes back when the
/// scope ends (a training step, a validation batch), as the device arena's does; a released storage fails in any later
/// op. Other storage (parameters, optimizer state) is lent with a weak reference and its array comes back once the
/// collector has found the owner dead, looked for every <see cref="SweepAfterRents"/> rents; no collection is forced.</para>
/// Arrays are handed out again only for the same type and length; a rented array is zeroed unless the caller overwrites
/// it. Small arrays are left to the GC, whose young generation handles them cheaply.
/// <para>Shapes that change from batch to batch (text padded to its batch's longest report) leave free arrays of lengths
/// no later step asks for: a length not rented during the last <see cref="KeepUnusedScopes"/> scopes is dropped for the
/// GC when a scope ends, so the free lists hold about one step's arrays.</para>
/// </summary>
internal sealed class CpuBufferPool
{
    /// <summary>Arrays shorter than this many elements are plain allocations.</summary>
    public const int MinPooledLength = 1 << 14;

    /// <summary>Free arrays beyond this many bytes are dropped for the GC rather than kept.</summary>
    public const long MaxFreeBytes = 1L << 30;

    public const int SweepAfterRents = 256;

    /// <summary>Scopes a free length may go unrented before its arrays are dropped.</summary>
    public const int KeepUnusedScopes = 4;

    private readonly Dictionary<(Type, long), Stack<Array>> _free = [];
    private readonly Dictionary<(Type, long), long> _lastRented = [];
    private readonly List<(WeakReference<object> Owner, Array Buffer)> _lent = [];
    private readonly ScopeStack<Scope> _scopes = new();
    private readonly Lock _gate = new();
    private long _freeBytes;
    private int _rentsSinceSweep;
    private long _scopesEnded;

    /// <summary>An array of exactly <paramref name="length"/> elements; zero-filled when <paramref name="zeroed"/>.</summary>
    public T[] Rent<T>(long length, bool zeroed) where T : unmanaged
    {
        if (length < MinPooledLength) return new T[length];
        T[]? reused = null;
        lock (_gate)
        {
            if (++_rentsSinceSweep >= SweepAfterRents) SweepLocked();
            _lastRented[(typeof(T), length)] = _scopesEnded;
            if (_free.TryGetValue((typeof(T), length), out var stack) && stack.Count > 0)
            {
                reused = (T[])stack.Pop();
                _freeBytes -= Bytes(reused);
            }
        }
        if (reused is null) return zeroed ? new T[length] : GC.AllocateUninitializedArray<T>((int)length);
        if (zeroed) ClearOnAllCores(reused);
        return reused;
    }

    // Outside the lock, on every core: a training step zero-fills about 150 MiB of reused gradient buffers.
    private static void ClearOnAllCores<T>(T[] array) where T : unmanaged =>
        CpuParallel.ForElements(array.Length, (start, end) => array.AsSpan(start, end - start).Clear());

    /// <summary>
    /// Hands <paramref name="storage"/>'s array to the innermost scope open on this thread, or, outside every scope,
    /// records that the storage holds it so the array comes back when the storage is dead.
    /// </summary>
    public void Track(ICpuStorage storage)
    {
        if (storage.Buffer.LongLength < MinPooledLength) return;
        lock (_gate)
        {
            if (_scopes.Innermost() is { } scope)
            {
                scope.Owned.Add(storage);
                storage.OwningScope = scope;
                return;
            }
            _lent.Add((new WeakReference<object>(storage), storage.Buffer));
        }
    }

    /// <summary>
    /// Opens a scope on the calling thread: storage tracked on it until the scope is disposed (and no inner scope is open)
    /// is released at disposal. Scopes close in the reverse order of opening.
    /// </summary>
    public Scope OpenScope()
    {
        var scope = new Scope(this);
        lock (_gate) _scopes.Open(scope);
        return scope;
    }

    /// <summary>Takes back the arrays of the owners the GC has found dead so far.</summary>
    public void Sweep()
    {
        lock (_gate) SweepLocked();
    }

    // Moves the arrays of dead owners to the free lists, in the order they were lent.
    private void SweepLocked()
    {
        _rentsSinceSweep = 0;
        int kept = 0;
        for (int i = 0; i < _lent.Count; i++)
        {
            var lent = _lent[i];
            if (lent.Owner.TryGetTarget(out _)) _lent[kept++] = lent;
            else ReturnLocked(lent.Buffer);
        }
        _lent.RemoveRange(kept, _lent.Count - kept);
    }

    private void ReturnLocked(Array buffer)
    {
        long bytes = Bytes(buffer);
        if (_freeBytes + bytes > MaxFreeBytes) return;
        var key = (buffer.GetType().GetElementType()!, buffer.LongLength);
        if (!_free.TryGetValue(key, out var stack)) _free[key] = stack = new Stack<Array>();
        stack.Push(buffer);
        _lastRented.TryAdd(key, _scopesEnded);
        _freeBytes += bytes;
    }

    // Drops the free arrays of lengths no scope has rented lately (and forgets those lengths).
    private void DropStaleLocked()
    {
        _scopesEnded++;
        List<(Type, long)>? stale = null;
        foreach (var (key, last) in _lastRented)
        {
            if (_scopesEnded - last > KeepUnusedScopes) (stale ??= []).Add(key);
        }
        if (stale is null) return;
        foreach (var key in stale)
        {
            _lastRented.Remove(key);
            if (!_free.Remove(key, out var stack)) continue;
            foreach (var buffer in stack) _freeBytes -= Bytes(buffer);
        }
    }

    private static long Bytes(Array buffer) => System.Buffer.ByteLength(buffer);

    /// <summary>The storage of one step (or one batch): released together when disposed.</summary>
    public sealed class Scope : IDisposable
    {
        private readonly CpuBufferPool _pool;
        private bool _closed;

        internal Scope(CpuBufferPool pool) => _pool = pool;

        internal List<ICpuStorage> Owned { get; } = [];

        public void Dispose()
        {
            if (_closed) return;
            _closed = true;
            lock (_pool._gate)
            {
                _pool._scopes.Close(this, "CPU memory");
                foreach (var storage in Owned)
                {
                    if (storage.Release() is { } buffer) _pool.ReturnLocked(buffer);
                }
                _pool.DropStaleLocked();
            }
            Owned.Clear();
        }

        /// <summary>Takes one storage's array back before the scope ends (it stays on the list, released).</summary>
        internal void ReleaseEarly(ICpuStorage storage)
        {
            lock (_pool._gate)
            {
                if (!_closed && storage.Release() is { } buffer) _pool.ReturnLocked(buffer);
            }
        }
    }
}
