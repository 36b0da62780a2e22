namespace MedClip.Autograd;

/// <summary>
/// The end of a using-scope that changed a thread-local setting (<see cref="Autocast"/>, <see cref="FusedAttention"/>):
/// restores the previous value on the first Dispose, and does nothing on later ones.
/// </summary>
internal sealed class ScopeExit(Action restore) : IDisposable
{
    private Action? _restore = restore;

    public void Dispose()
    {
        _restore?.Invoke();
        _restore = null;
    }
}
