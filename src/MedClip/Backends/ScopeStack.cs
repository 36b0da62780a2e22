namespace MedClip.Backends;

/// <summary>
/// The memory scopes open on each thread, in the order they were opened: a new storage belongs to its thread's innermost
/// scope, and a scope must close before the scopes opened before it on the same thread. Shared by the CPU buffer pool
/// and the device arena, which guard it with their own locks.
/// </summary>
internal sealed class ScopeStack<TScope> where TScope : class
{
    private readonly List<(TScope Scope, int Thread)> _open = [];

    /// <summary>Opens <paramref name="scope"/> on the calling thread, inside any scope already open there.</summary>
    public void Open(TScope scope) => _open.Add((scope, Environment.CurrentManagedThreadId));

    /// <summary>The innermost scope open on the calling thread, or null outside every scope.</summary>
    public TScope? Innermost()
    {
        int thread = Environment.CurrentManagedThreadId;
        for (int i = _open.Count - 1; i >= 0; i--)
        {
            if (_open[i].Thread == thread) return _open[i].Scope;
        }
        return null;
    }

    /// <summary>
    /// Closes <paramref name="scope"/>, which must be the innermost open on the thread that opened it; otherwise throws,
    /// saying that a scope of <paramref name="memory"/> closed around one still open.
    /// </summary>
    public void Close(TScope scope, string memory)
    {
        int index = _open.FindLastIndex(open => ReferenceEquals(open.Scope, scope));
        if (index < 0) throw new InvalidOperationException($"A {memory} scope was closed that is not open.");
        int thread = _open[index].Thread;
        for (int i = _open.Count - 1; i > index; i--)
        {
            if (_open[i].Thread == thread)
                throw new InvalidOperationException($"A {memory} scope was closed while a scope opened inside it on the same thread is still open.");
        }
        _open.RemoveAt(index);
    }
}
