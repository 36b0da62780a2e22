namespace MedClip.Training;

/// <summary>
/// Notices a collapsed model, once each: a logit scale driven below 0 (exp(scale) &lt; 1, so the softmax over
/// similarities in [-1, 1] is nearly uniform and the loss sits near ln(batch)), or a gradient norm of exactly 0 (nothing learns).
/// </summary>
internal sealed class CollapseWarning(ITrainingObserver? observer)
{
    private bool _scaleWarned, _gradientWarned;

    public void Check(double rawLogitScale, double gradNorm, int step)
    {
        if (!_scaleWarned && rawLogitScale < 0)
        {
            _scaleWarned = true;
            observer?.OnMessage($"Warning: at step {step} the logit scale is {rawLogitScale:F3} (exp = {Math.Exp(rawLogitScale):G3} < 1): " +
                "the model no longer separates pairs; lower --lr or check the data.");
        }
        if (!_gradientWarned && gradNorm == 0)
        {
            _gradientWarned = true;
            observer?.OnMessage($"Warning: at step {step} the gradient norm is 0: no parameter changes; check the data and the locked towers.");
        }
    }
}
