namespace MedClip.Data.Synthetic;

/// <summary>
/// Smooth random texture in [0, 1]: random values on a square lattice, blended with smoothstep
/// weights. Used for patchy opacities, lung texture and film mottle.
/// </summary>
internal sealed class ValueNoise
{
    private readonly float[] _lattice;
    private readonly int _cells;

    public ValueNoise(Random rng, int cells)
    {
        _cells = cells;
        _lattice = new float[(cells + 1) * (cells + 1)];
        for (int i = 0; i < _lattice.Length; i++)
            _lattice[i] = rng.NextSingle();
    }

    /// <summary>The texture at (x, y) in [0, 1]^2; outside it the border value continues.</summary>
    public float Sample(float x, float y)
    {
        float gx = Math.Clamp(x, 0f, 1f) * _cells, gy = Math.Clamp(y, 0f, 1f) * _cells;
        int ix = Math.Min((int)gx, _cells - 1), iy = Math.Min((int)gy, _cells - 1);
        float fx = gx - ix, fy = gy - iy;
        fx = fx * fx * (3f - 2f * fx);
        fy = fy * fy * (3f - 2f * fy);
        int row = _cells + 1, i00 = iy * row + ix;
        float top = _lattice[i00] + (_lattice[i00 + 1] - _lattice[i00]) * fx;
        float bottom = _lattice[i00 + row] + (_lattice[i00 + row + 1] - _lattice[i00 + row]) * fx;
        return top + (bottom - top) * fy;
    }
}
