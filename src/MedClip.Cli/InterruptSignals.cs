using System.Runtime.InteropServices;

namespace MedClip.Cli;

/// <summary>
/// SIGINT (Ctrl-C) and SIGTERM (what Slurm and Kubernetes send on preemption) alike: the first cancels
/// <see cref="Token"/>, so training finishes its step, writes a resumable checkpoint and exits with
/// <see cref="ExitCode"/>; a second aborts the process at once with the same code (the checkpoints already written stay).
/// </summary>
internal sealed class InterruptSignals : IDisposable
{
    /// <summary>Exit codes of an interrupted run, the shell's 128 + signal number.</summary>
    public const int InterruptedBySigint = 130, InterruptedBySigterm = 143;

    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration[] _registrations;
    private int _received;

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
        if (Interlocked.Increment(ref _received) > 1)
        {
            Console.Error.WriteLine($"{context.Signal} again: stopping now without a checkpoint.");
            Environment.Exit(code);
        }
        ExitCode = code;
        Console.Error.WriteLine($"{context.Signal}: finishing this step and writing a resumable checkpoint (send it again to stop at once).");
        _source.Cancel();
    }
}
