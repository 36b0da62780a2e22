namespace MedClip.Backends.Cpu;

/// <summary>
/// Large arrays for CPU storages, reused across training steps instead of allocated afresh: a step's activations and
/// gradients are hundreds of megabytes of large-object-heap arrays, whose allocation zeroes fresh memory and triggers
/// full collections. Tensors are freed by the GC, so the pool lends an array with a weak reference to the storage that
/// holds it and takes it back once the collector has found that storage dead, looking every <see cref="SweepAfterRents"/>
/// rents; it never forces a collection.
/// Arrays come back whole and are handed out only for the same type and length; a rented array is zeroed unless the
/// caller overwrites it. Small arrays are left to the GC, whose young generation handles them cheaply.
/// </summary>
internal sealed class CpuBufferPool
{
    /// <summary>Arrays shorter than this many elements are plain allocations.</summary>
    public const int MinPooledLength = 1 << 14;

    /// <summary>Free arrays beyond this many bytes are dropped for the GC rather than kept.</summary>
    public const long MaxFreeBytes = 1L << 30;

    public const int SweepAfterRents = 256;

    private readonly Dictionary<(Type, long), Stack<Array>> _free = [];
    private readonly List<(WeakReference<object> Owner, Array Buffer, long Bytes)> _lent = [];
    private readonly Lock _gate = new();
    private long _freeBytes;
    private int _rentsSinceSweep;

    /// <summary>An array of exactly <paramref name="length"/> elements; zero-filled when <paramref name="zeroed"/>.</summary>
    public T[] Rent<T>(long length, bool zeroed) where T : unmanaged
    {
        if (length < MinPooledLength) return new T[length];
        long bytes = length * System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        lock (_gate)
        {
            if (++_rentsSinceSweep >= SweepAfterRents) SweepLocked();
            if (_free.TryGetValue((typeof(T), length), out var stack) && stack.Count > 0)
            {
                var reused = (T[])stack.Pop();
                _freeBytes -= bytes;
                if (zeroed) reused.AsSpan().Clear();
                return reused;
            }
        }
        return zeroed ? new T[length] : GC.AllocateUninitializedArray<T>((int)length);
    }

    /// <summary>Records that <paramref name="owner"/> holds <paramref name="buffer"/>: the array comes back when the owner is dead.</summary>
    public void Lend(object owner, Array buffer, long bytes)
    {
        if (buffer.LongLength < MinPooledLength) return;
        lock (_gate) _lent.Add((new WeakReference<object>(owner), buffer, bytes));
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
            if (lent.Owner.TryGetTarget(out _))
            {
                _lent[kept++] = lent;
                continue;
            }
            if (_freeBytes + lent.Bytes > MaxFreeBytes) continue;
            var key = (lent.Buffer.GetType().GetElementType()!, lent.Buffer.LongLength);
            if (!_free.TryGetValue(key, out var stack)) _free[key] = stack = new Stack<Array>();
            stack.Push(lent.Buffer);
            _freeBytes += lent.Bytes;
        }
        _lent.RemoveRange(kept, _lent.Count - kept);
    }
}
