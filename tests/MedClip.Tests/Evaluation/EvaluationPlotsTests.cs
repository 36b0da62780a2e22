using MedClip.Evaluation;
using SixLabors.ImageSharp;

namespace MedClip.Tests.Evaluation;

/// <summary>Figures for papers: a 300-dpi PNG and an SVG of each, the confusion matrix with row percentages and a colour scale.</summary>
public sealed class EvaluationPlotsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-plots-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void ConfusionMatrix_Is300DpiPngAndSvg_WithRowPercentagesAndAColourScale()
    {
        string png = Path.Combine(_dir, "confusion.png");
        EvaluationPlots.ConfusionMatrix(png, "matrix", new[,] { { 3, 1 }, { 0, 4 } }, ["A", "B"]);

        var info = Image.Identify(png);
        // PNG stores pixels per metre: 11,811 is 300 dpi.
        double dpi = info.Metadata.ResolutionUnits == SixLabors.ImageSharp.Metadata.PixelResolutionUnit.PixelsPerMeter
            ? info.Metadata.HorizontalResolution * 0.0254 : info.Metadata.HorizontalResolution;
        Assert.Equal(300, dpi, 0.5);
        Assert.True(info.Width >= 7 * 300, $"{info.Width} pixels wide");
        string svg = File.ReadAllText(Path.ChangeExtension(png, ".svg"));
        foreach (string cell in new[] { "75%", "25%", "0%", "100%", "% of the true class" })
            Assert.Contains(cell, svg);
    }

    [Fact]
    public void StepCurves_StartTheAxisAtZero_AndWriteBothFormats()
    {
        string png = Path.Combine(_dir, "scale.png");
        EvaluationPlots.StepCurves(png, "Logit scale", "exp(logit_scale)", ("logit scale", [(10, 29.4), (20, 30.0)]));
        Assert.True(File.Exists(png));
        string svg = File.ReadAllText(Path.ChangeExtension(png, ".svg"));
        Assert.Matches(@">\s*0\s*</text>", svg); // the y axis has a tick at zero rather than starting near 29.4
    }
}
