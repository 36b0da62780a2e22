using System.Diagnostics;
using MedClip.Data;
using MedClip.Training;
using Spectre.Console;

namespace MedClip.Cli;

/// <summary>
/// Renders progress: on a terminal, Spectre.Console bars with the time left, one per stage as it starts (generating
/// data, preparing shards, embedding, bootstrap, probe, training: the training bar appears at the first step, not
/// while data is generated); otherwise (logs, CI) plain lines, a stage at each quarter and training at the first report
/// <see cref="PlainEvery"/> or more steps after the last line (the trainer reports every --log-every steps).
/// </summary>
internal sealed class ConsoleProgress : ITrainingObserver, IProgress<WorkProgress>
{
    private const int PlainEvery = 25;
    private ProgressContext? _context;
    private readonly Dictionary<string, ProgressTask> _tasks = [];
    private readonly Dictionary<string, (Stopwatch Clock, int Quarter)> _plain = [];
    private readonly Lock _lock = new();
    private int _plainStep; // the step of the last plain training line

    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="work"/> with live progress bars (or plain lines when not interactive).</summary>
    public T Run<T>(Func<T> work)
    {
        if (!Interactive) return work();
        T result = default!;
        // The bar keeps about a quarter of the width: 20 columns at 80, 40 at 160 and more.
        int barWidth = Math.Clamp(AnsiConsole.Profile.Width / 4, 10, 40);
        AnsiConsole.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn { Width = barWidth }, new PercentageColumn(),
                new RemainingTimeColumn())
            .Start(context =>
            {
                _context = context;
                result = work();
                foreach (var task in _tasks.Values) task.StopTask();
            });
        _context = null;
        return result;
    }

    public void OnStep(StepReport r)
    {
        string line = $"step {r.Step}/{r.TotalSteps}  loss {r.Loss:F4}  lr {r.LearningRate:0.0e0}  scale {r.LogitScale:F1}  {r.ImagesPerSecond:F0} img/s";
        if (_context is not null)
        {
            lock (_lock)
            {
                // Short enough to leave the bar its width at 80 columns.
                var task = Task("training", r.TotalSteps);
                task.Value = r.Step;
                task.Description = Markup.Escape($"{r.Step}/{r.TotalSteps} loss {r.Loss:F3} lr {r.LearningRate:0.0e0} {r.ImagesPerSecond:F0} img/s");
            }
        }
        else if (r.Step - _plainStep >= PlainEvery || r.Step == r.TotalSteps)
        {
            _plainStep = r.Step;
            Console.WriteLine(line);
        }
    }

    public void Report(WorkProgress p)
    {
        lock (_lock)
        {
            if (_context is not null)
            {
                var task = Task(p.Stage, p.Total);
                task.Value = p.Done;
                return;
            }
            // Plain output: the stage's start, each quarter, with the time left estimated from the rate so far.
            if (!_plain.TryGetValue(p.Stage, out var state)) state = (Stopwatch.StartNew(), -1);
            int quarter = p.Total <= 0 ? 4 : (int)(4 * p.Done / p.Total);
            if (quarter > state.Quarter)
            {
                double seconds = state.Clock.Elapsed.TotalSeconds;
                string left = quarter >= 1 && p.Done < p.Total ? $", about {FormatSeconds(seconds * (p.Total - p.Done) / p.Done)} left" : "";
                Console.WriteLine($"{p.Stage}: {p.Done:N0}/{p.Total:N0}{left}");
                state = (state.Clock, quarter);
            }
            _plain[p.Stage] = state;
        }
    }

    public void OnMessage(string message)
    {
        if (_context is not null) AnsiConsole.MarkupLine(Markup.Escape(message));
        else Console.WriteLine(message);
    }

    private ProgressTask Task(string stage, double total)
    {
        if (!_tasks.TryGetValue(stage, out var task))
        {
            foreach (var earlier in _tasks.Values.Where(t => !t.IsFinished)) earlier.StopTask();
            task = _context!.AddTask(Markup.Escape(stage), maxValue: Math.Max(1, total));
            _tasks[stage] = task;
        }
        task.MaxValue = Math.Max(1, total);
        return task;
    }

    private static string FormatSeconds(double seconds) =>
        seconds < 90 ? $"{seconds:F0} s" : seconds < 5400 ? $"{seconds / 60:F0} min" : $"{seconds / 3600:F1} h";
}
