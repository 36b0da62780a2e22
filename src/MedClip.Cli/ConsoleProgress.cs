using MedClip.Training;
using Spectre.Console;

namespace MedClip.Cli;

/// <summary>
/// Renders training progress: a Spectre.Console progress bar with loss, learning rate, logit scale and images/s when
/// the output is a terminal; one line every <see cref="PlainEvery"/> steps otherwise (logs, CI).
/// </summary>
internal sealed class ConsoleProgress : ITrainingObserver
{
    private const int PlainEvery = 25;
    private ProgressTask? _task;

    public static bool Interactive => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>Runs <paramref name="work"/> with a live progress bar (or plain lines when not interactive).</summary>
    public T Run<T>(string title, Func<T> work)
    {
        if (!Interactive) return work();
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                _task = context.AddTask(Markup.Escape(title), maxValue: 1);
                result = work();
                _task.StopTask();
            });
        return result;
    }

    public void OnStep(StepReport r)
    {
        string line = $"step {r.Step}/{r.TotalSteps}  loss {r.Loss:F4}  lr {r.LearningRate:E2}  scale {r.LogitScale:F1}  {r.ImagesPerSecond:F0} img/s";
        if (_task is not null)
        {
            _task.MaxValue = r.TotalSteps;
            _task.Value = r.Step;
            _task.Description = Markup.Escape(line);
        }
        else if (r.Step % PlainEvery == 0 || r.Step == r.TotalSteps)
        {
            Console.WriteLine(line);
        }
    }

    public void OnMessage(string message)
    {
        if (_task is not null) AnsiConsole.MarkupLine(Markup.Escape(message));
        else Console.WriteLine(message);
    }
}
