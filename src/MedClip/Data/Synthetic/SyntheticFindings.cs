namespace MedClip.Data.Synthetic;

/// <summary>How the report speaks of an observation; each maps to one CheXpert value.</summary>
internal enum Mention { NotMentioned, Positive, Negated, Uncertain }

/// <summary>The patient's side. Frontal images show the patient's right on the image's left.</summary>
internal enum Side { Right, Left, Bilateral }

internal enum Lobe { RightUpper, RightMiddle, RightLower, LeftUpper, Lingula, LeftLower }

internal enum SupportDevice { EndotrachealTube, Enteric, JugularLine, Picc, Pacemaker }

/// <summary>
/// One observation: how it is reported, and where and how large it is when present. Grade is
/// 0, 1, 2 for small/moderate/large (effusion, pneumothorax) or mild/moderate/severe.
/// An uncertain finding is drawn, but at its smallest grade and fainter.
/// </summary>
internal readonly record struct Finding(Mention Mention, Side Side = Side.Right, int Grade = 0, Lobe Lobe = Lobe.RightUpper)
{
    public bool Drawn => Mention is Mention.Positive or Mention.Uncertain;

    /// <summary>Density multiplier for the drawing: uncertain findings are fainter.</summary>
    public float Strength => Mention == Mention.Positive ? 1f : Mention == Mention.Uncertain ? 0.6f : 0f;

    public static Finding None => new(Mention.NotMentioned);
}

/// <summary>
/// What one synthetic study shows and says. The image is drawn from it, the report is written from
/// it, and the CheXpert labels are read off it, so the three agree by construction.
/// </summary>
internal sealed record SyntheticFindings(
    Finding Cardiomegaly,
    Finding EnlargedCardiomediastinum,
    Finding PleuralEffusion,
    int RightEffusionGrade,
    int LeftEffusionGrade,
    Finding Pneumothorax,
    Finding Consolidation,
    Finding Pneumonia,
    Finding LungLesion,
    int LesionSizeMm,
    Finding Edema,
    Finding Atelectasis,
    Finding Fracture,
    IReadOnlyList<SupportDevice> SupportDevices)
{
    /// <summary>True when nothing but support devices is positive or uncertain: CheXpert's "No Finding".</summary>
    public bool NoFinding =>
        !new[] { Cardiomegaly, EnlargedCardiomediastinum, PleuralEffusion, Pneumothorax, Consolidation, Pneumonia, LungLesion, Edema, Atelectasis, Fracture }
            .Any(finding => finding.Drawn);

    /// <summary>Lung Opacity is reported positive whenever an opacity is: consolidation, edema, atelectasis or a lesion.</summary>
    public bool LungOpacity =>
        new[] { Consolidation, LungLesion, Edema, Atelectasis }.Any(finding => finding.Mention == Mention.Positive);

    public static SyntheticFindings Sample(Random rng)
    {
        Finding cardiomegaly = Sample(rng, prevalence: 0.25, negatedWhenAbsent: 0.55, finding => finding with { Grade = rng.Next(3) });
        Finding enlargedMediastinum = cardiomegaly.Mention == Mention.Positive
            ? rng.NextDouble() < 0.3 ? new Finding(Mention.Positive) : Finding.None
            : rng.NextDouble() < 0.35 ? new Finding(Mention.Negated) : Finding.None;

        Finding effusion = Sample(rng, prevalence: 0.25, negatedWhenAbsent: 0.65,
            finding => finding with { Side = PickSide(rng, bilateral: 0.3), Grade = rng.Next(3) });
        int rightEffusion = -1, leftEffusion = -1;
        if (effusion.Drawn)
        {
            // Bilateral effusions may differ in size; the report then names both sides.
            rightEffusion = effusion.Side != Side.Left ? effusion.Grade : -1;
            leftEffusion = effusion.Side != Side.Right ? effusion.Grade : -1;
            if (effusion.Side == Side.Bilateral && effusion.Mention == Mention.Positive && rng.NextDouble() < 0.4)
                leftEffusion = rng.Next(3);
        }

        Finding pneumothorax = Sample(rng, prevalence: 0.12, negatedWhenAbsent: 0.65,
            finding => finding with { Side = PickSide(rng, bilateral: 0), Grade = rng.Next(3) });
        Finding consolidation = Sample(rng, prevalence: 0.2, negatedWhenAbsent: 0.55,
            finding => finding with { Lobe = (Lobe)rng.Next(6) });
        Finding pneumonia = consolidation.Mention switch
        {
            Mention.Positive => rng.NextDouble() switch { < 0.45 => new Finding(Mention.Uncertain), < 0.65 => new Finding(Mention.Positive), _ => Finding.None },
            Mention.Negated when rng.NextDouble() < 0.4 => new Finding(Mention.Negated),
            _ => Finding.None,
        };
        Finding lesion = Sample(rng, prevalence: 0.12, negatedWhenAbsent: 0.1, finding => finding with { Lobe = (Lobe)rng.Next(6) });
        int lesionSizeMm = rng.NextDouble() < 0.2 ? rng.Next(32, 46) : rng.Next(10, 21);
        Finding edema = Sample(rng, prevalence: 0.2, negatedWhenAbsent: 0.45, finding => finding with { Grade = rng.Next(3) });
        Finding atelectasis = Sample(rng, prevalence: 0.25, negatedWhenAbsent: 0.2,
            finding => finding with { Side = PickSide(rng, bilateral: 0.35), Grade = rng.Next(2) });
        Finding fracture = rng.NextDouble() < 0.12 ? new Finding(Mention.Negated) : Finding.None;

        var devices = new List<SupportDevice>();
        if (rng.NextDouble() < 0.2)
        {
            int count = 1 + rng.Next(3);
            while (devices.Count < count)
            {
                var device = (SupportDevice)rng.Next(5);
                if (!devices.Contains(device))
                    devices.Add(device);
            }
            devices.Sort();
        }

        return new SyntheticFindings(cardiomegaly, enlargedMediastinum, effusion, rightEffusion, leftEffusion, pneumothorax,
            consolidation, pneumonia, lesion, lesionSizeMm, edema, atelectasis, fracture, devices);
    }

    /// <summary>Present with <paramref name="prevalence"/> (reported uncertain 15% of the time, then at grade 0); when absent, negated in the report with <paramref name="negatedWhenAbsent"/>.</summary>
    private static Finding Sample(Random rng, double prevalence, double negatedWhenAbsent, Func<Finding, Finding> where)
    {
        if (rng.NextDouble() < prevalence)
        {
            Finding present = where(new Finding(Mention.Positive));
            return rng.NextDouble() < 0.15 ? present with { Mention = Mention.Uncertain, Grade = 0 } : present;
        }
        return rng.NextDouble() < negatedWhenAbsent ? new Finding(Mention.Negated) : Finding.None;
    }

    private static Side PickSide(Random rng, double bilateral) =>
        rng.NextDouble() < bilateral ? Side.Bilateral : rng.NextDouble() < 0.5 ? Side.Right : Side.Left;

    /// <summary>The 14 CheXpert values as MIMIC encodes them (1, 0, -1, null = not mentioned).</summary>
    public IReadOnlyDictionary<string, float?> Labels()
    {
        var labels = new Dictionary<string, float?>(StringComparer.Ordinal)
        {
            ["Atelectasis"] = Value(Atelectasis),
            ["Cardiomegaly"] = Value(Cardiomegaly),
            ["Consolidation"] = Value(Consolidation),
            ["Edema"] = Value(Edema),
            ["Enlarged Cardiomediastinum"] = Value(EnlargedCardiomediastinum),
            ["Fracture"] = Value(Fracture),
            ["Lung Lesion"] = Value(LungLesion),
            ["Lung Opacity"] = LungOpacity ? 1f : null,
            ["No Finding"] = NoFinding ? 1f : null,
            ["Pleural Effusion"] = Value(PleuralEffusion),
            ["Pleural Other"] = null,
            ["Pneumonia"] = Value(Pneumonia),
            ["Pneumothorax"] = Value(Pneumothorax),
            ["Support Devices"] = SupportDevices.Count > 0 ? 1f : null,
        };
        return labels;
    }

    private static float? Value(Finding finding) => finding.Mention switch
    {
        Mention.Positive => 1f,
        Mention.Negated => 0f,
        Mention.Uncertain => -1f,
        _ => null,
    };
}
