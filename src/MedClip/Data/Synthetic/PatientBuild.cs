using static MedClip.Data.Synthetic.Shapes;

namespace MedClip.Data.Synthetic;

/// <summary>One lung vessel: leaves the hilum at an angle (0 = straight out sideways, positive = downwards), then bends once.</summary>
internal readonly record struct VesselBranch(float Angle, float Length, float Bend, float TipLength);

/// <summary>
/// The body of one patient, shared by all their studies: chest size, lung height, diaphragm,
/// mediastinum, normal heart size and the pattern of lung vessels. Lengths are in image widths.
/// </summary>
internal sealed record PatientBuild(
    float HalfWidth,
    float ApexY,
    float BaseY,
    float DomeHeight,
    float MediastinumHalfWidth,
    float NormalCardiothoracicRatio,
    float SoftTissueMargin,
    bool Female,
    VesselBranch[] RightVessels,
    VesselBranch[] LeftVessels)
{
    public static PatientBuild Sample(Random rng, char sex) => new(
        HalfWidth: Uniform(rng, 0.33f, 0.38f),
        ApexY: Uniform(rng, 0.11f, 0.15f),
        BaseY: Uniform(rng, 0.76f, 0.81f),
        DomeHeight: Uniform(rng, 0.07f, 0.11f),
        MediastinumHalfWidth: Uniform(rng, 0.055f, 0.07f),
        NormalCardiothoracicRatio: Uniform(rng, 0.38f, 0.46f),
        SoftTissueMargin: Uniform(rng, 0.03f, 0.08f),
        Female: sex == 'F',
        RightVessels: SampleVessels(rng),
        LeftVessels: SampleVessels(rng));

    private static VesselBranch[] SampleVessels(Random rng)
    {
        var branches = new VesselBranch[7];
        for (int i = 0; i < branches.Length; i++)
        {
            // Spread the branches from upwards (-70 degrees) to downwards (+75 degrees).
            float angle = (-70f + 145f * (i + Uniform(rng, 0.2f, 0.8f)) / branches.Length) * MathF.PI / 180f;
            branches[i] = new VesselBranch(angle, Uniform(rng, 0.06f, 0.10f), Uniform(rng, -0.3f, 0.3f), Uniform(rng, 0.05f, 0.10f));
        }
        return branches;
    }
}
