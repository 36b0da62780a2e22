namespace MedClip.Training;

/// <summary>What the trainer reports after each optimizer step, for a progress bar.</summary>
public sealed record StepReport(int Step, int TotalSteps, double Loss, double LearningRate, double LogitScale, double ImagesPerSecond);

/// <summary>Receives progress; the console renders it, tests ignore it.</summary>
public interface ITrainingObserver
{
    void OnStep(StepReport report);
    void OnMessage(string message);
}
