using static MedClip.Data.Synthetic.Shapes;

namespace MedClip.Data.Synthetic;

/// <summary>
/// How one radiograph was taken: PA standing or portable AP, the patient's pose in the frame
/// (shift, rotation, magnification), depth of inspiration, and the exposure (beam attenuation,
/// display window, gamma, noise).
/// </summary>
internal sealed record Acquisition(
    bool Portable,
    float ShiftX,
    float ShiftY,
    float Rotation,
    float Scale,
    float Inspiration,
    float Attenuation,
    float WindowLow,
    float WindowHigh,
    float Gamma,
    float NoiseSigma)
{
    public static Acquisition Sample(Random rng, bool portable) => new(
        portable,
        ShiftX: Uniform(rng, -0.03f, 0.03f),
        ShiftY: Uniform(rng, -0.03f, 0.03f),
        Rotation: Uniform(rng, -3f, 3f) * MathF.PI / 180f,
        Scale: Uniform(rng, 0.94f, 1.05f),
        // Portable films are taken lying down with a shallower breath: the diaphragm sits higher.
        Inspiration: Uniform(rng, -0.02f, 0.02f) - (portable ? 0.025f : 0f),
        Attenuation: Uniform(rng, 1.1f, 1.5f),
        WindowLow: Uniform(rng, 0.0f, 0.12f),
        WindowHigh: Uniform(rng, 0.85f, 1.0f),
        Gamma: Uniform(rng, 0.8f, 1.25f),
        NoiseSigma: Uniform(rng, 0.01f, 0.03f));

    /// <summary>Maps image coordinates (u, v in [0, 1], v down) to the patient's frame, undoing shift, rotation and scale about the centre.</summary>
    public (float X, float Y) ToAnatomy(float u, float v)
    {
        float dx = u - 0.5f - ShiftX, dy = v - 0.5f - ShiftY;
        float cos = MathF.Cos(Rotation), sin = MathF.Sin(Rotation);
        return (0.5f + (cos * dx + sin * dy) / Scale, 0.5f + (-sin * dx + cos * dy) / Scale);
    }
}
