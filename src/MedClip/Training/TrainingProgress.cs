namespace MedClip.Training;

/// <summary>
/// What the trainer reports for a progress bar after a step it read the device's results for: every --log-every steps, at
/// validation and checkpoint steps and at the last (reading them every step would make the host wait for the device).
/// </summary>
public sealed record StepReport(int Step, int TotalSteps, double Loss, double LearningRate, double LogitScale, double ImagesPerSecond);

/// <summary>Receives progress; the console renders it, tests ignore it.</summary>
public interface ITrainingObserver
{
    void OnStep(StepReport report);
    void OnMessage(string message);
}
