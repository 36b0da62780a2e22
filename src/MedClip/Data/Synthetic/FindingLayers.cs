using static MedClip.Data.Synthetic.Shapes;
using static MedClip.Data.Synthetic.ThoraxAnatomy;

namespace MedClip.Data.Synthetic;

/// <summary>
/// The density each finding adds on top of the normal chest, placed from the study's findings:
/// effusion (fluid filling the lung base under a meniscus that rises laterally, blunting the
/// costophrenic angle), pneumothorax (dark rim without vessels outside a collapsed lung, with the
/// visceral pleural line), consolidation (patchy opacity in a lobe), nodule or mass (round spot),
/// edema (bilateral perihilar "bat wing" haze), atelectasis (plate-like bands, haze at the base and a wedge of
/// collapsed lower lobe against the heart border) and
/// support devices (bright tubes, lines and a pacemaker). Cardiomegaly and volume loss change the
/// anatomy itself (see <see cref="ThoraxAnatomy"/>).
/// </summary>
internal sealed class FindingLayers
{
    private readonly ThoraxAnatomy _anatomy;
    private readonly float[] _effusionHeight = new float[2]; // 0 = none
    private readonly float _effusionStrength;
    private readonly int _pneumothoraxSide = -1;
    private readonly float _pneumothoraxStrength, _collapsedX, _collapsedY, _collapsedRadiusX, _collapsedRadiusY;
    private readonly (float X, float Y, float RadiusX, float RadiusY, int Side, float Strength)? _consolidation;
    private readonly ValueNoise _patchiness;
    private readonly (float X, float Y, float Radius, float Strength)? _nodule;
    private readonly float _edemaAmplitude, _edemaSigmaX, _edemaSigmaY, _edemaHaze;
    private readonly List<(float X0, float Y0, float X1, float Y1, float HalfThickness, int Side, float Strength)> _atelectasisBands = [];
    private readonly float _basalHazeStrength, _collapseStrength;
    private readonly bool[] _atelectasisSides = new bool[2];
    private readonly List<(float[] Points, float Thickness, float Density)> _devices = [];
    private readonly (float X, float Y)? _pacemaker;

    public FindingLayers(ThoraxAnatomy anatomy, SyntheticFindings findings, Random rng)
    {
        _anatomy = anatomy;
        _patchiness = new ValueNoise(rng, 40);

        if (findings.PleuralEffusion.Drawn)
        {
            float[] heights = [0.2f, 0.3f, 0.42f];
            _effusionStrength = findings.PleuralEffusion.Strength;
            if (findings.RightEffusionGrade >= 0)
                _effusionHeight[0] = heights[findings.RightEffusionGrade] * Uniform(rng, 0.9f, 1.1f);
            if (findings.LeftEffusionGrade >= 0)
                _effusionHeight[1] = heights[findings.LeftEffusionGrade] * Uniform(rng, 0.9f, 1.1f);
        }

        if (findings.Pneumothorax.Drawn)
        {
            int side = findings.Pneumothorax.Side == Side.Right ? 0 : 1;
            float collapse = findings.Pneumothorax.Mention == Mention.Uncertain ? 0.9f : new[] { 0.84f, 0.72f, 0.58f }[findings.Pneumothorax.Grade];
            _pneumothoraxSide = side;
            _pneumothoraxStrength = findings.Pneumothorax.Strength;
            // The lung collapses towards its hilum: inwards and a little down.
            _collapsedX = anatomy.LungCenterX(side) - SideSign(side) * (1 - collapse) * anatomy.LungRadiusX(side) * 0.8f;
            _collapsedY = anatomy.LungCenterY(side) + (1 - collapse) * anatomy.LungRadiusY(side) * 0.4f;
            _collapsedRadiusX = collapse * anatomy.LungRadiusX(side);
            _collapsedRadiusY = collapse * anatomy.LungRadiusY(side);
        }

        if (findings.Consolidation.Drawn)
        {
            (int side, float across, float down, float radiusX, float radiusY) = LobeRegion(findings.Consolidation.Lobe);
            float rx = anatomy.LungRadiusX(side);
            _consolidation = (
                anatomy.LungCenterX(side) + SideSign(side) * across * rx + Uniform(rng, -0.02f, 0.02f),
                LungHeightAt(side, down) + Uniform(rng, -0.02f, 0.02f),
                1.7f * radiusX * rx, 1.9f * radiusY, side, findings.Consolidation.Strength);
        }

        if (findings.LungLesion.Drawn)
        {
            (int side, float across, float down, _, _) = LobeRegion(findings.LungLesion.Lobe);
            float size = findings.LungLesion.Mention == Mention.Uncertain ? 10 : findings.LesionSizeMm;
            _nodule = (
                anatomy.LungCenterX(side) + SideSign(side) * (across + Uniform(rng, -0.3f, 0.3f)) * anatomy.LungRadiusX(side),
                LungHeightAt(side, down) + Uniform(rng, -0.04f, 0.04f),
                0.014f + size * 0.0011f, findings.LungLesion.Strength);
        }

        if (findings.Edema.Drawn)
        {
            int grade = findings.Edema.Grade;
            _edemaAmplitude = new[] { 0.32f, 0.45f, 0.58f }[grade] * findings.Edema.Strength;
            _edemaSigmaX = 0.09f + 0.025f * grade;
            _edemaSigmaY = 0.11f + 0.03f * grade;
            _edemaHaze = 0.06f * (grade + 1) * findings.Edema.Strength;
        }

        if (findings.Atelectasis.Drawn)
        {
            for (int side = 0; side < 2; side++)
            {
                if (!OnSide(findings.Atelectasis.Side, side))
                    continue;
                int bands = findings.Atelectasis.Grade + 1;
                for (int b = 0; b < bands; b++)
                    _atelectasisBands.Add(PlateBand(side, findings.Atelectasis.Strength, rng));
                _atelectasisSides[side] = true;
            }
            _basalHazeStrength = (findings.Atelectasis.Grade == 1 ? 0.45f : 0.35f) * findings.Atelectasis.Strength;
            _collapseStrength = (findings.Atelectasis.Grade == 1 ? 0.75f : 0.55f) * findings.Atelectasis.Strength;
        }

        foreach (SupportDevice device in findings.SupportDevices)
            AddDevice(device);
        if (findings.SupportDevices.Contains(SupportDevice.Pacemaker))
            _pacemaker = (Midline + 0.24f, anatomy.ApexY + 0.07f);
    }

    /// <summary>Which lung a lobe is in, where its centre lies (across: from the lung centre towards the chest wall in lung half-widths; down: fraction of lung height) and its size.</summary>
    private static (int Side, float Across, float Down, float RadiusX, float RadiusY) LobeRegion(Lobe lobe) => lobe switch
    {
        Lobe.RightUpper => (0, 0f, 0.28f, 0.6f, 0.09f),
        Lobe.RightMiddle => (0, -0.3f, 0.62f, 0.5f, 0.08f),
        Lobe.RightLower => (0, 0.1f, 0.80f, 0.6f, 0.09f),
        Lobe.LeftUpper => (1, 0f, 0.28f, 0.6f, 0.09f),
        Lobe.Lingula => (1, 0.1f, 0.60f, 0.5f, 0.08f),
        _ => (1, 0.15f, 0.82f, 0.6f, 0.09f),
    };

    private float LungHeightAt(int side, float fraction) => _anatomy.ApexY + fraction * (_anatomy.BaseY(side) - _anatomy.ApexY);

    /// <summary>A plate of collapsed lung: a thin band near the base, roughly horizontal, kept clear of the dome.</summary>
    private (float, float, float, float, float, int, float) PlateBand(int side, float strength, Random rng)
    {
        float rx = _anatomy.LungRadiusX(side);
        float cx = _anatomy.LungCenterX(side) + SideSign(side) * Uniform(rng, -0.3f, 0.3f) * rx;
        float cy = MathF.Min(_anatomy.BaseY(side) - Uniform(rng, 0.09f, 0.16f), _anatomy.DomeY(side, cx) - 0.035f);
        float halfLength = Uniform(rng, 0.35f, 0.5f) * rx;
        float angle = Uniform(rng, -12f, 12f) * MathF.PI / 180f;
        float dx = halfLength * MathF.Cos(angle), dy = halfLength * MathF.Sin(angle);
        return (cx - dx, cy - dy, cx + dx, cy + dy, Uniform(rng, 0.03f, 0.038f), side, strength);
    }

    private void AddDevice(SupportDevice device)
    {
        ThoraxAnatomy a = _anatomy;
        float m = Midline, carina = a.CarinaY, apex = a.ApexY;
        switch (device)
        {
            case SupportDevice.EndotrachealTube:
                _devices.Add(([m + 0.002f, -0.1f, m, carina - 0.045f], 0.016f, 1.0f));
                break;
            case SupportDevice.Enteric:
                float stomachX = m + 0.15f;
                _devices.Add(([m - 0.01f, -0.1f, m + 0.005f, 0.3f, m + 0.015f, 0.6f, m + 0.05f, a.DomeY(1, m + 0.05f) + 0.05f,
                    stomachX, a.DomeY(1, stomachX) + 0.10f], 0.011f, 1.0f));
                break;
            case SupportDevice.JugularLine:
                _devices.Add(([m - 0.08f, -0.1f, m - 0.06f, apex, m - 0.035f, apex + 0.12f, m - 0.025f, carina + 0.04f], 0.010f, 1.0f));
                break;
            case SupportDevice.Picc:
                _devices.Add(([m - a.BodyHalfWidth - 0.2f, apex + 0.08f, m - 0.30f, apex + 0.05f, m - 0.12f, apex + 0.07f,
                    m - 0.03f, carina, m - 0.025f, carina + 0.06f], 0.010f, 1.0f));
                break;
            case SupportDevice.Pacemaker:
                float genX = m + 0.24f, genY = apex + 0.07f;
                float[] toAtrium = [genX, genY, m + 0.13f, apex + 0.04f, m + 0.01f, apex + 0.14f, m - 0.025f, carina + 0.08f];
                _devices.Add(([.. toAtrium, m - 0.05f, a.HeartCenterY - 0.02f], 0.008f, 1.2f));
                _devices.Add(([.. toAtrium, a.HeartCenterX + 0.3f * a.HeartRadiusX, a.HeartCenterY + 0.5f * a.HeartHalfHeight], 0.008f, 1.2f));
                break;
        }
    }

    /// <summary>Where a pneumothorax has replaced lung with air (0 to 1); the lung vessels vanish there.</summary>
    public float PneumothoraxRegion(in ChestPoint p)
    {
        if (_pneumothoraxSide < 0)
            return 0f;
        float lung = p.Lung(_pneumothoraxSide);
        if (lung == 0f)
            return 0f;
        float collapsed = SuperellipseRadius(p.X - _collapsedX, p.Y - _collapsedY, _collapsedRadiusX, _collapsedRadiusY, 2.4f);
        return lung * (1f - Inside((collapsed - 1f) * _collapsedRadiusX, 0.004f));
    }

    public float Density(in ChestPoint p, float soft, float pneumothoraxRegion)
    {
        float x = p.X, y = p.Y, density = 0f;

        for (int side = 0; side < 2; side++)
        {
            if (_effusionHeight[side] > 0f && p.Lung(side) > 0f)
            {
                // The meniscus: the fluid's top edge, higher against the chest wall than medially.
                float across = (x - _anatomy.LungCenterX(side)) * SideSign(side) / _anatomy.LungRadiusX(side);
                float lateral = Math.Clamp((across + 1f) / 2f, 0f, 1f);
                float level = _anatomy.BaseY(side) - _effusionHeight[side] * (0.55f + 0.45f * lateral);
                // Fluid gives back the lung's air and a little more: it looks like the soft tissue below the diaphragm.
                density += 1.5f * AirDensity * _effusionStrength * p.Air(side) * SmoothStep(level - 0.02f, level + 0.015f, y);
            }
        }

        if (_pneumothoraxSide >= 0 && p.Lung(_pneumothoraxSide) > 0f)
        {
            float collapsed = SuperellipseRadius(x - _collapsedX, y - _collapsedY, _collapsedRadiusX, _collapsedRadiusY, 2.4f);
            float pleuralLine = Inside(MathF.Abs(collapsed - 1f) * _collapsedRadiusX - 0.004f, soft);
            density += _pneumothoraxStrength * (0.18f * pleuralLine * p.Lung(_pneumothoraxSide) - 0.25f * pneumothoraxRegion);
        }

        if (_consolidation is { } c && p.Lung(c.Side) > 0f)
        {
            float dx = (x - c.X) / c.RadiusX, dy = (y - c.Y) / c.RadiusY;
            float core = 1f - (dx * dx + dy * dy);
            if (core > -0.5f)
            {
                float patch = Math.Clamp(core * 1.6f + (_patchiness.Sample(x, y) - 0.5f) * 2.2f, 0f, 1f);
                density += 1.0f * c.Strength * patch * p.Lung(c.Side);
            }
        }

        if (_nodule is { } n)
        {
            float dx = x - n.X, dy = y - n.Y, r2 = (dx * dx + dy * dy) / (n.Radius * n.Radius);
            if (r2 < 1.5f)
                density += 0.6f * n.Strength * MathF.Sqrt(MathF.Max(0f, 1f - r2)) * Inside(MathF.Sqrt(r2) * n.Radius - n.Radius, soft);
        }

        if (_edemaAmplitude > 0f)
        {
            for (int side = 0; side < 2; side++)
            {
                float lung = p.Lung(side);
                if (lung == 0f)
                    continue;
                float hx = (x - (Midline + SideSign(side) * (_anatomy.MediastinumHalfWidth + 0.03f))) / _edemaSigmaX;
                float hy = (y - _anatomy.HilumY(side)) / _edemaSigmaY;
                density += lung * (_edemaAmplitude * MathF.Exp(-0.5f * (hx * hx + hy * hy)) + _edemaHaze);
            }
        }

        foreach ((float x0, float y0, float x1, float y1, float half, int side, float strength) in _atelectasisBands)
        {
            float lung = p.Lung(side);
            if (lung > 0f)
                density += 1.0f * strength * lung * Inside(SegmentDistance(x, y, x0, y0, x1, y1) - half, soft);
        }
        for (int side = 0; side < 2; side++)
        {
            if (_atelectasisSides[side] && p.Lung(side) > 0f)
            {
                float dome = _anatomy.DomeY(side, x);
                density += _basalHazeStrength * p.Lung(side) * SmoothStep(dome - 0.08f, dome, y);
                // Collapsed lower-lobe lung: a dense wedge against the heart border, widest at the diaphragm.
                float medial = _anatomy.LungCenterX(side) - SideSign(side) * 0.55f * _anatomy.LungRadiusX(side);
                float wx = (x - medial) / (0.45f * _anatomy.LungRadiusX(side)), wy = (dome - y) / 0.16f;
                if (wy > 0f && wy < 1f)
                    density += _collapseStrength * p.Lung(side) * MathF.Exp(-0.5f * wx * wx / MathF.Max(0.05f, (1f - wy) * (1f - wy)));
            }
        }

        foreach ((float[] points, float thickness, float deviceDensity) in _devices)
            density += deviceDensity * Polyline(x, y, points, thickness, soft);
        if (_pacemaker is { } generator)
        {
            float r = SuperellipseRadius(x - generator.X, y - generator.Y, 0.045f, 0.03f, 4f);
            density += 1.6f * Inside((r - 1f) * 0.03f, soft);
        }
        return density;
    }
}
