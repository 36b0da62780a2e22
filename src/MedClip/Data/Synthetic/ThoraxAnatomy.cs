using static MedClip.Data.Synthetic.Shapes;

namespace MedClip.Data.Synthetic;

/// <summary>What the density of a chest depends on at one point, worked out once per pixel.</summary>
internal struct ChestPoint
{
    public float X, Y;

    /// <summary>Coverage of each lung, 0 = the patient's right (the image's left), 1 = the patient's left.</summary>
    public float Lung0, Lung1;

    /// <summary>Air in each lung: coverage times depth (lungs are thickest at their centre), less where the mediastinum lies in front.</summary>
    public float Air0, Air1;

    /// <summary>Coverage of the heart and mediastinum.</summary>
    public float Mediastinum;

    public readonly float Lung(int side) => side == 0 ? Lung0 : Lung1;
    public readonly float Air(int side) => side == 0 ? Air0 : Air1;
}

/// <summary>
/// The normal chest of one study in the patient's frame (x to the image's right, y down, in image
/// widths): lungs as superellipses cut by the diaphragm domes, heart, mediastinum, trachea, spine,
/// ribs, clavicles, shoulders, soft tissue and lung vessels. Density is in units where full soft
/// tissue is about 1; the renderer turns it into brightness. Side index 0 is the patient's right.
/// </summary>
internal sealed class ThoraxAnatomy
{
    public const float Midline = 0.5f;
    private const float LungShape = 2.4f; // superellipse exponent: squarer than an ellipse, like a lung field
    /// <summary>Density that a full depth of aerated lung takes away; fluid or collapse filling the lung gives it back.</summary>
    public const float AirDensity = 0.6f;
    private const int RibCount = 10;
    private const float HeartAspect = 0.8f; // short axis over long axis
    private static readonly float HeartCos = MathF.Cos(25f * MathF.PI / 180f), HeartSin = MathF.Sin(25f * MathF.PI / 180f);

    private readonly PatientBuild _patient;
    private readonly float[] _baseY = new float[2];
    private readonly float[] _lungCenterX = new float[2], _lungCenterY = new float[2], _lungRadiusX = new float[2], _lungRadiusY = new float[2];
    private readonly float[] _vessels; // per segment: x0, y0, x1, y1, half thickness, density
    private readonly ValueNoise _lungTexture;

    public float HalfWidth { get; }
    public float ApexY { get; }
    public float DomeHeight { get; }
    public float CarinaY { get; }
    public float ClavicleY { get; }
    public float MediastinumHalfWidth { get; }
    public float BodyHalfWidth { get; }
    public float CardiothoracicRatio { get; }
    public float HeartCenterX { get; }
    public float HeartCenterY { get; }
    public float HeartRadiusX { get; }
    public float HeartRadiusY { get; }
    public float HeartHalfHeight { get; }

    public ThoraxAnatomy(PatientBuild patient, Acquisition acquisition, SyntheticFindings findings, Random rng)
    {
        _patient = patient;
        HalfWidth = patient.HalfWidth;
        ApexY = patient.ApexY;
        DomeHeight = patient.DomeHeight;
        MediastinumHalfWidth = patient.MediastinumHalfWidth;
        BodyHalfWidth = HalfWidth + patient.SoftTissueMargin;
        CarinaY = ApexY + 0.22f;
        // On a portable AP film the clavicles project higher, over the apices.
        ClavicleY = ApexY + (acquisition.Portable ? -0.015f : 0.02f);

        // The left hemidiaphragm sits lower than the right; atelectasis with volume loss pulls its side up.
        for (int side = 0; side < 2; side++)
        {
            _baseY[side] = patient.BaseY + acquisition.Inspiration + (side == 1 ? 0.02f : 0f);
            if (findings.Atelectasis.Mention == Mention.Positive && findings.Atelectasis.Grade == 1 && OnSide(findings.Atelectasis.Side, side))
                _baseY[side] -= 0.035f;
            float sign = SideSign(side);
            float medialEdge = Midline + sign * MediastinumHalfWidth * 0.7f;
            float lateralEdge = Midline + sign * HalfWidth;
            _lungCenterX[side] = (medialEdge + lateralEdge) / 2;
            _lungRadiusX[side] = MathF.Abs(lateralEdge - medialEdge) / 2;
            _lungCenterY[side] = (ApexY + _baseY[side]) / 2 + 0.06f;
            _lungRadiusY[side] = _lungCenterY[side] - ApexY;
        }

        CardiothoracicRatio = HeartRatio(patient, acquisition, findings.Cardiomegaly, rng);
        float heartWidth = CardiothoracicRatio * 2 * HalfWidth;
        // The heart is an ellipse tilted down to the left (the apex sits on the left hemidiaphragm), sized so that its
        // horizontal extent is the cardiothoracic ratio times the chest width; two thirds of it lie left of the midline.
        HeartRadiusX = heartWidth / 2 / MathF.Sqrt(HeartCos * HeartCos + HeartAspect * HeartAspect * HeartSin * HeartSin);
        HeartRadiusY = HeartAspect * HeartRadiusX;
        HeartHalfHeight = HeartRadiusX * MathF.Sqrt(HeartSin * HeartSin + HeartAspect * HeartAspect * HeartCos * HeartCos);
        HeartCenterX = Midline + 0.2f * heartWidth;
        HeartCenterY = _baseY[1] - DomeHeight + 0.04f - HeartHalfHeight;

        _vessels = BuildVessels(patient);
        _lungTexture = new ValueNoise(rng, 24);
    }

    /// <summary>Normal hearts fill under half the chest width; cardiomegaly clearly more than half.</summary>
    private static float HeartRatio(PatientBuild patient, Acquisition acquisition, Finding cardiomegaly, Random rng)
    {
        float ratio = cardiomegaly.Mention switch
        {
            Mention.Positive => cardiomegaly.Grade switch
            {
                0 => Uniform(rng, 0.56f, 0.60f),
                1 => Uniform(rng, 0.60f, 0.65f),
                _ => Uniform(rng, 0.65f, 0.71f),
            },
            Mention.Uncertain => Uniform(rng, 0.50f, 0.53f),
            _ => patient.NormalCardiothoracicRatio,
        };
        // An AP film magnifies the heart a little (it lies farther from the detector).
        return acquisition.Portable ? ratio * 1.03f : ratio;
    }

    public static float SideSign(int side) => side == 0 ? -1f : 1f;

    public static bool OnSide(Side where, int side) => where == Side.Bilateral || (where == Side.Right) == (side == 0);

    public float BaseY(int side) => _baseY[side];
    public float LungCenterX(int side) => _lungCenterX[side];
    public float LungCenterY(int side) => _lungCenterY[side];
    public float LungRadiusX(int side) => _lungRadiusX[side];
    public float LungRadiusY(int side) => _lungRadiusY[side];

    /// <summary>Height of the diaphragm dome: highest mid-lung, reaching the costophrenic angle laterally and staying higher medially.</summary>
    public float DomeY(int side, float x)
    {
        float offset = (x - _lungCenterX[side]) * SideSign(side) / _lungRadiusX[side]; // > 0 lateral
        float u = offset > 0 ? offset : -offset * 0.75f;
        u = MathF.Min(u, 1f);
        return _baseY[side] - DomeHeight * (1f - u * u);
    }

    public float LungRadius(int side, float x, float y) =>
        SuperellipseRadius(x - _lungCenterX[side], y - _lungCenterY[side], _lungRadiusX[side], _lungRadiusY[side], LungShape);

    /// <summary>Coverage of the tilted heart ellipse.</summary>
    public float Heart(float x, float y, float soft)
    {
        float dx = x - HeartCenterX, dy = y - HeartCenterY;
        return Ellipse(HeartCos * dx + HeartSin * dy, -HeartSin * dx + HeartCos * dy, 0f, 0f, HeartRadiusX, HeartRadiusY, soft);
    }

    public ChestPoint Probe(float x, float y, float soft)
    {
        float lungSoft = MathF.Max(soft, 0.006f);
        float heart = Heart(x, y, soft);
        float mediastinumHalf = MediastinumHalfWidth * (0.9f + 0.3f * SmoothStep(ApexY, HeartCenterY, y));
        float upper = Inside(MathF.Abs(x - Midline) - mediastinumHalf, soft) * (1f - SmoothStep(HeartCenterY - 0.05f, HeartCenterY + 0.05f, y));
        float aorticKnob = Ellipse(x, y, Midline + MediastinumHalfWidth * 1.05f, ApexY + 0.16f, 0.03f, 0.028f, soft);
        var point = new ChestPoint { X = x, Y = y, Mediastinum = MathF.Max(heart, MathF.Max(upper, aorticKnob)) };
        for (int side = 0; side < 2; side++)
        {
            float radius = LungRadius(side, x, y);
            float lung = Inside((radius - 1f) * _lungRadiusX[side], lungSoft) * Inside(y - DomeY(side, x), lungSoft);
            float air = lung * (0.6f + 0.4f * MathF.Max(0f, 1f - radius * radius)) * (1f - 0.9f * point.Mediastinum);
            if (side == 0) { point.Lung0 = lung; point.Air0 = air; }
            else { point.Lung1 = lung; point.Air1 = air; }
        }
        return point;
    }

    /// <summary>Density of the normal chest at the point; <paramref name="markings"/> scales the lung vessels (0 where a pneumothorax has taken the lung away).</summary>
    public float Density(in ChestPoint p, float soft, float markings)
    {
        float x = p.X, y = p.Y, fromMidline = x - Midline;
        int side = fromMidline < 0 ? 0 : 1;
        float sign = SideSign(side);

        float body = BodyThickness(x, y);
        float density = 0.8f * body - AirDensity * (p.Air0 + p.Air1);
        // The mediastinum and the upper abdomen (liver, spleen) are the full depth of the body in soft tissue.
        density += 0.3f * p.Mediastinum + 0.05f * Heart(x, y, soft);
        density += 0.3f * MathF.Min(1f, body * 2f) * Inside(DomeY(side, x) + 0.01f - y, MathF.Max(soft, 0.01f));

        // Hila: pulmonary arteries and nodes either side of the mediastinum.
        float hilumX = Midline + sign * (MediastinumHalfWidth + 0.03f), hilumY = HilumY(side);
        float hx = (x - hilumX) / 0.03f, hy = (y - hilumY) / 0.045f;
        density += 0.14f * MathF.Exp(-0.5f * (hx * hx + hy * hy));

        // Trachea and main bronchi carry air down to the carina.
        density -= 0.3f * Inside(MathF.Abs(fromMidline) - 0.013f, soft) * Inside(y - CarinaY, soft);
        density -= 0.2f * Inside(SegmentDistance(x, y, Midline, CarinaY, Midline + sign * 0.05f, CarinaY + 0.045f) - 0.008f, soft);

        // Spine, with the vertebral bodies brighter than the disc spaces.
        float spine = Inside(MathF.Abs(fromMidline) - 0.033f, soft);
        density += spine * (0.26f + 0.08f * MathF.Cos(2f * MathF.PI * (y - ApexY) / 0.058f));

        density += Ribs(x, y, side, soft) * MathF.Min(1f, 2f * body);
        ReadOnlySpan<float> clavicle =
        [
            Midline + sign * 0.035f, ClavicleY + 0.025f, Midline + sign * 0.15f, ClavicleY, Midline + sign * 0.30f, ClavicleY - 0.02f,
        ];
        density += 0.3f * Polyline(x, y, clavicle, 0.022f, soft);
        density += 0.3f * Ellipse(x, y, Midline + sign * (BodyHalfWidth + 0.06f), ApexY + 0.02f, 0.06f, 0.06f, soft);

        // Gas in the stomach under the left hemidiaphragm.
        float stomachX = Midline + 0.16f;
        density -= 0.3f * Ellipse(x, y, stomachX, DomeY(1, stomachX) + 0.045f, 0.05f, 0.028f, soft);

        if (_patient.Female)
        {
            float cx = _lungCenterX[side] + sign * 0.2f * _lungRadiusX[side], cy = _baseY[side] - 0.05f;
            density += 0.13f * Ellipse(x, y, cx, cy, 0.16f, 0.11f, MathF.Max(soft, 0.01f)) * SmoothStep(cy - 0.11f, cy + 0.03f, y);
        }

        float lung = MathF.Max(p.Lung0, p.Lung1) * (1f - 0.7f * p.Mediastinum);
        if (lung > 0f)
            density += lung * (markings * Vessels(x, y, soft) + 0.07f * (_lungTexture.Sample(x, y) - 0.5f));
        return density;
    }

    public float HilumY(int side) => ApexY + 0.47f * (_baseY[side] - ApexY);

    /// <summary>Soft tissue depth: a neck widening into the shoulders, then the chest wall, rounded at the sides.</summary>
    private float BodyThickness(float x, float y)
    {
        float neck = 0.085f, shoulders = BodyHalfWidth + 0.10f, top = ApexY - 0.05f;
        float halfWidth = y < top
            ? neck + (shoulders - neck) * SmoothStep(top - 0.08f, top, y)
            : shoulders + (BodyHalfWidth - shoulders) * SmoothStep(top, top + 0.2f, y);
        float across = (x - Midline) / halfWidth;
        float depth = 1f - across * across;
        return depth > 0f ? MathF.Sqrt(depth) : 0f;
    }

    /// <summary>Posterior ribs run out from the spine and curve down laterally; the fainter anterior ribs run back down and in.</summary>
    private float Ribs(float x, float y, int side, float soft)
    {
        float sign = SideSign(side);
        float t = (x - (Midline + sign * 0.035f)) * sign / (HalfWidth - 0.02f);
        if (t is < 0f or > 1.05f)
            return 0f;
        float spacing = (_baseY[side] - ApexY) / 9f;
        float fade = SmoothStep(0f, 0.08f, t) * (1f - SmoothStep(0.97f, 1.05f, t));
        float sum = 0f;
        for (int k = 0; k < RibCount; k++)
        {
            float y0 = ApexY + 0.015f + k * spacing;
            float posterior = y0 - 0.025f * t + 0.085f * t * t;
            sum += 0.07f * fade * Inside(MathF.Abs(y - posterior) - 0.009f, soft);
            if (t > 0.35f)
            {
                float anterior = y0 + 0.06f + 0.09f * (1f - t) / 0.65f;
                sum += 0.035f * fade * Inside(MathF.Abs(y - anterior) - 0.007f, soft);
            }
        }
        return sum;
    }

    private float Vessels(float x, float y, float soft)
    {
        float sum = 0f;
        for (int i = 0; i < _vessels.Length; i += 6)
        {
            float x0 = _vessels[i], y0 = _vessels[i + 1], x1 = _vessels[i + 2], y1 = _vessels[i + 3], half = _vessels[i + 4];
            float margin = half + soft;
            if (x < MathF.Min(x0, x1) - margin || x > MathF.Max(x0, x1) + margin || y < MathF.Min(y0, y1) - margin || y > MathF.Max(y0, y1) + margin)
                continue;
            sum += _vessels[i + 5] * Inside(SegmentDistance(x, y, x0, y0, x1, y1) - half, soft);
        }
        return sum;
    }

    private float[] BuildVessels(PatientBuild patient)
    {
        var segments = new List<float>();
        for (int side = 0; side < 2; side++)
        {
            float sign = SideSign(side);
            float hx = Midline + sign * (MediastinumHalfWidth + 0.03f), hy = HilumY(side);
            foreach (VesselBranch branch in side == 0 ? patient.RightVessels : patient.LeftVessels)
            {
                float mx = hx + sign * branch.Length * MathF.Cos(branch.Angle), my = hy + branch.Length * MathF.Sin(branch.Angle);
                float angle = branch.Angle + branch.Bend;
                float tx = mx + sign * branch.TipLength * MathF.Cos(angle), ty = my + branch.TipLength * MathF.Sin(angle);
                segments.AddRange([hx, hy, mx, my, 0.0055f, 0.09f, mx, my, tx, ty, 0.0035f, 0.06f]);
            }
        }
        return segments.ToArray();
    }
}
