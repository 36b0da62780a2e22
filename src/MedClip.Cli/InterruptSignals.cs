using System.Diagnostics;
using System.Runtime.InteropServices;

namespace MedClip.Cli;

/// <summary>
/// SIGINT (Ctrl-C) and SIGTERM (what Slurm and Kubernetes send on preemption) alike: the first cancels
/// <see cref="Token"/>, so training finishes its step, writes a resumable checkpoint and exits with
/// <see cref="ExitCode"/>; a second aborts the process at once with the same code (the checkpoints already written stay).
/// One kill can arrive twice (`dotnet run` forwards it and the process group gets it too), so a repeat of the same
/// signal within <see cref="SameDelivery"/> counts as the first.
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    /// <summary>Exit codes of an interrupted run, the shell's 128 + signal number.</summary>
    public const int InterruptedBySigint = 130, InterruptedBySigterm = 143;

    /// <summary>Far below the quickest deliberate second Ctrl-C, far above the gap between two copies of one kill.</summary>
    private static readonly TimeSpan SameDelivery = TimeSpan.FromMilliseconds(20);

    private readonly CancellationTokenSource _source = new();
    private readonly object _gate = new();
    private PosixSignal? _first;
    private long _firstAt;
    private readonly PosixSignalRegistration[] _registrations;

    public InterruptSignals()
    {
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle)];
    }

    public CancellationToken Token => _source.Token;

    /// <summary>130 after SIGINT, 143 after SIGTERM; null while no signal came.</summary>
    public int? ExitCode { get; private set; }

    public void Dispose()
    {
        foreach (var registration in _registrations) registration.Dispose();
        _source.Dispose();
    }

    private void Handle(PosixSignalContext context)
    {
        context.Cancel = true; // the process goes on until the checkpoint is written
        int code = context.Signal == PosixSignal.SIGINT ? InterruptedBySigint : InterruptedBySigterm;
        lock (_gate)
        {
            if (_first is { } first)
            {
                if (first == context.Signal && Stopwatch.GetElapsedTime(_firstAt) < SameDelivery) return;
                Console.Error.WriteLine($"{context.Signal} again: stopping now without a checkpoint.");
                Environment.Exit(code);
            }
            _first = context.Signal;
            _firstAt = Stopwatch.GetTimestamp();
        }
        ExitCode = code;
        Console.Error.WriteLine($"{context.Signal}: finishing this step and writing a resumable checkpoint (send it again to stop at once).");
        _source.Cancel();
        // The window runs from the end of this handling too: on a loaded machine the message and the cancellation can
        // take longer than the window, and a copy of the same kill waiting behind them is still the same delivery.
        lock (_gate) _firstAt = Stopwatch.GetTimestamp();
    }
}
