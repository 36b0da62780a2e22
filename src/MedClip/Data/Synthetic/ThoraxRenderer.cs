namespace MedClip.Data.Synthetic;

/// <summary>
/// Turns a chest into an 8-bit radiograph: for each pixel, the density of the normal anatomy and
/// the findings is attenuated as an X-ray beam would be (brightness = 1 - exp(-k * density), so
/// bone and fluid are white and air is black), then windowed, gamma-corrected and given noise.
/// </summary>
internal static class ThoraxRenderer
{
    public static byte[] Render(ThoraxAnatomy anatomy, FindingLayers findings, Acquisition acquisition, int size, Random rng)
    {
        var pixels = new byte[size * size];
        float soft = 1f / (size * acquisition.Scale); // one pixel, in the patient's frame
        var mottle = new ValueNoise(rng, 8);
        float window = acquisition.WindowHigh - acquisition.WindowLow;
        for (int row = 0; row < size; row++)
        {
            float v = (row + 0.5f) / size;
            for (int column = 0; column < size; column++)
            {
                float u = (column + 0.5f) / size;
                (float x, float y) = acquisition.ToAnatomy(u, v);
                ChestPoint point = anatomy.Probe(x, y, soft);
                float pneumothorax = findings.PneumothoraxRegion(point);
                float density = anatomy.Density(point, soft, markings: 1f - pneumothorax) + findings.Density(point, soft, pneumothorax);
                float brightness = 1f - MathF.Exp(-acquisition.Attenuation * MathF.Max(density, 0f));
                float shown = MathF.Pow(Math.Clamp((brightness - acquisition.WindowLow) / window, 0f, 1f), acquisition.Gamma);
                shown += acquisition.NoiseSigma * Shapes.Gaussian(rng) + 0.04f * (mottle.Sample(u, v) - 0.5f);
                pixels[row * size + column] = (byte)MathF.Round(255f * Math.Clamp(shown, 0f, 1f));
            }
        }
        return pixels;
    }
}
