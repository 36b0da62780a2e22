namespace MedClip.Optim;

/// <summary>Linear warm-up from 0 to the peak, then cosine decay to <c>minFactor</c> * peak at the last step (open_clip's cosine_lr).</summary>
public sealed record LearningRateSchedule(double Peak, int WarmupSteps, int TotalSteps, double MinFactor = 0.0)
{
    /// <summary>Learning rate for the 0-based step about to be taken.</summary>
    public double At(int step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        int decaySteps = Math.Max(1, TotalSteps - WarmupSteps);
        double progress = Math.Clamp((double)(step - WarmupSteps) / decaySteps, 0, 1);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return Peak * (MinFactor + (1 - MinFactor) * cosine);
    }
}
