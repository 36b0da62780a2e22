namespace MedClip.Data.Synthetic;

/// <summary>
/// Coverage of simple shapes at a point, antialiased: a shape's edge ramps from 1 to 0 over
/// <c>soft</c> (about one pixel) so the drawing looks the same at any image size.
/// </summary>
internal static class Shapes
{
    /// <summary>1 well inside (signed distance below -soft/2), 0 well outside, linear in between.</summary>
    public static float Inside(float signedDistance, float soft) => Math.Clamp(0.5f - signedDistance / soft, 0f, 1f);

    public static float SmoothStep(float edge0, float edge1, float x)
    {
        float t = Math.Clamp((x - edge0) / (edge1 - edge0), 0f, 1f);
        return t * t * (3f - 2f * t);
    }

    /// <summary>(|dx/rx|^p + |dy/ry|^p)^(1/p): 1 on the superellipse, 0 at its centre; p = 2 is an ellipse.</summary>
    public static float SuperellipseRadius(float dx, float dy, float rx, float ry, float p) =>
        MathF.Pow(MathF.Pow(MathF.Abs(dx / rx), p) + MathF.Pow(MathF.Abs(dy / ry), p), 1f / p);

    /// <summary>Coverage of an ellipse, using (r - 1) * min radius as the signed distance.</summary>
    public static float Ellipse(float x, float y, float cx, float cy, float rx, float ry, float soft)
    {
        float dx = (x - cx) / rx, dy = (y - cy) / ry;
        return Inside((MathF.Sqrt(dx * dx + dy * dy) - 1f) * MathF.Min(rx, ry), soft);
    }

    /// <summary>Distance from (x, y) to the segment a-b.</summary>
    public static float SegmentDistance(float x, float y, float ax, float ay, float bx, float by)
    {
        float vx = bx - ax, vy = by - ay;
        float t = Math.Clamp(((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy), 0f, 1f);
        float dx = x - ax - t * vx, dy = y - ay - t * vy;
        return MathF.Sqrt(dx * dx + dy * dy);
    }

    /// <summary>Coverage of a line of the given thickness through the points of a polyline.</summary>
    public static float Polyline(float x, float y, ReadOnlySpan<float> xy, float thickness, float soft)
    {
        float nearest = float.MaxValue;
        for (int i = 0; i + 3 < xy.Length; i += 2)
            nearest = MathF.Min(nearest, SegmentDistance(x, y, xy[i], xy[i + 1], xy[i + 2], xy[i + 3]));
        return Inside(nearest - thickness / 2, soft);
    }

    /// <summary>A standard normal draw (Box-Muller).</summary>
    public static float Gaussian(Random rng) =>
        MathF.Sqrt(-2f * MathF.Log(1f - rng.NextSingle())) * MathF.Cos(2f * MathF.PI * rng.NextSingle());

    /// <summary>Uniform in [low, high).</summary>
    public static float Uniform(Random rng, float low, float high) => low + (high - low) * rng.NextSingle();
}
