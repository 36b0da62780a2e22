using MedClip.Data;
using ScottPlot;

namespace MedClip.Evaluation;

/// <summary>
/// The report's figures, drawn with ScottPlot, each as a 300-dpi PNG and an SVG beside it (same name, .svg). Colours
/// are Okabe and Ito's colour-blind-safe set; the five competition labels are drawn in colour, the others in grey.
/// Legends sit outside the axes; axes of quantities that start at zero start at zero.
/// </summary>
public static class EvaluationPlots
{
    // 7.5 x 5.8 inches at 300 dpi: ScottPlot lays the figure out at 96 dpi and scales every stroke and font.
    private const int Width = 720, Height = 560, Dpi = 300;
    private const float Scale = Dpi / 96f;

    /// <summary>Okabe and Ito (2008), without black and yellow, which read poorly as thin lines on white.</summary>
    private static readonly Color[] Palette =
        [Color.FromHex("#0072B2"), Color.FromHex("#E69F00"), Color.FromHex("#009E73"), Color.FromHex("#CC79A7"), Color.FromHex("#D55E00"), Color.FromHex("#56B4E9")];

    private static readonly Color Grey = Color.FromHex("#A0A0A0");

    /// <summary>
    /// ROC curves with the AUROC in the legend, competition labels in colour and the rest in grey, a label below chance
    /// flagged, the Youden point of each competition label, and the chance diagonal.
    /// </summary>
    public static void RocCurves(string path, string title, IReadOnlyList<BinaryLabelResult> results)
    {
        var plot = new Plot();
        var chance = plot.Add.ScatterLine(new double[] { 0, 1 }, new double[] { 0, 1 });
        chance.LineColor = Colors.Black.WithAlpha(0.5);
        chance.LinePattern = LinePattern.Dashed;
        chance.LegendText = "chance (0.5)";
        var defined = results.Where(r => r.Auroc is not null).ToList();
        var others = defined.Where(r => !ChexpertLabels.Competition.Contains(r.Label)).ToList();
        foreach (var r in others)
        {
            var line = Curve(plot, r, Grey, 1);
            line.LegendText = "";
        }
        if (others.Count > 0)
        {
            var below = others.Where(r => r.Auroc < 0.5).Select(r => r.Label).ToList();
            var key = plot.Add.ScatterLine(new double[] { double.NaN }, new double[] { double.NaN });
            key.LineColor = Grey;
            key.LegendText = $"{others.Count} other labels, {others.Min(r => r.Auroc):F2}-{others.Max(r => r.Auroc):F2}" +
                (below.Count > 0 ? $"\nbelow chance: {string.Join(", ", below)}" : "");
        }
        int i = 0;
        foreach (var r in defined.Where(r => ChexpertLabels.Competition.Contains(r.Label)))
        {
            var color = Palette[i++ % Palette.Length];
            var line = Curve(plot, r, color, 2.5f);
            line.LegendText = $"{r.Label} {r.Auroc:F3}{(r.Auroc < 0.5 ? " (below chance)" : "")}";
            if (r.Youden is { } y)
            {
                var marker = plot.Add.Marker(1 - y.Specificity, y.Sensitivity);
                marker.Color = color;
                marker.Size = 9;
            }
        }
        var youden = plot.Add.Marker(double.NaN, double.NaN);
        youden.Color = Colors.Black;
        youden.LegendText = "Youden point (score threshold\nin report.md, not a probability)";
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.Title(title);
        plot.XLabel("1 - specificity (false positive rate)");
        plot.YLabel("sensitivity (true positive rate)");
        plot.ShowLegend(Edge.Right);
        Save(plot, path, Width + 240, Height);
    }

    private static ScottPlot.Plottables.Scatter Curve(Plot plot, BinaryLabelResult r, Color color, float width)
    {
        var line = plot.Add.ScatterLine(r.Roc.Select(p => p.FalsePositiveRate).ToArray(), r.Roc.Select(p => p.TruePositiveRate).ToArray());
        line.LineColor = color;
        line.LineWidth = width;
        return line;
    }

    /// <summary>
    /// A confusion matrix coloured by the share of each true class (row) predicted as each class, with a colour scale;
    /// every cell shows the count and that row percentage. The first class is the top row, as in a printed matrix.
    /// </summary>
    public static void ConfusionMatrix(string path, string title, int[,] counts, IReadOnlyList<string> classes)
    {
        int k = classes.Count;
        var shares = new double[k, k];
        for (int r = 0; r < k; r++)
        {
            double total = Enumerable.Range(0, k).Sum(c => counts[r, c]);
            for (int c = 0; c < k; c++) shares[r, c] = total == 0 ? 0 : 100 * counts[r, c] / total;
        }
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(shares);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 100);
        heatmap.Position = new CoordinateRect(-0.5, k - 0.5, -0.5, k - 0.5);
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = "% of the true class";
        for (int r = 0; r < k; r++)
        {
            for (int c = 0; c < k; c++)
            {
                var text = plot.Add.Text($"{counts[r, c]}\n{shares[r, c]:F0}%", c, k - 1 - r);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = 14;
                text.LabelFontColor = shares[r, c] > 60 ? Colors.Black : Colors.White;
            }
        }
        var positions = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(positions, classes.ToArray());
        plot.Axes.Left.SetTicks(positions, classes.Reverse().ToArray());
        plot.Axes.SetLimits(-0.5, k - 0.5, -0.5, k - 0.5);
        plot.Title(title);
        plot.XLabel("predicted class");
        plot.YLabel("true class");
        Save(plot, path, Width + 120, Height);
    }

    /// <summary>
    /// Curves over training steps, the y axis from zero (losses and the logit scale are positive, and a cropped axis makes
    /// small changes look large); a sparse series (validation) gets markers on its points.
    /// </summary>
    public static void StepCurves(string path, string title, string yLabel, params (string Name, IReadOnlyList<(int Step, double Value)> Points)[] curves)
    {
        var plot = new Plot();
        int i = 0;
        double top = 0;
        foreach (var (name, points) in curves.Where(c => c.Points.Count > 0))
        {
            var line = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.Value).ToArray());
            line.Color = Palette[i++ % Palette.Length];
            line.LegendText = name;
            line.LineWidth = 2;
            line.MarkerSize = points.Count <= 30 ? 7 : 0;
            top = Math.Max(top, points.Max(p => double.IsFinite(p.Value) ? p.Value : 0));
        }
        plot.Axes.AutoScaleX();
        plot.Axes.SetLimitsY(0, top > 0 ? top * 1.08 : 1);
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel(yLabel);
        plot.ShowLegend(Edge.Right);
        Save(plot, path, Width + 140, Height);
    }

    // The PNG at 300 dpi (its pHYs chunk says so) and the same figure as SVG.
    private static void Save(Plot plot, string pngPath, int width, int height)
    {
        plot.SaveSvg(Path.ChangeExtension(pngPath, ".svg"), width, height);
        plot.ScaleFactor = Scale;
        plot.SavePng(pngPath, (int)(width * Scale), (int)(height * Scale));
        using var image = SixLabors.ImageSharp.Image.Load(pngPath);
        image.Metadata.HorizontalResolution = Dpi;
        image.Metadata.VerticalResolution = Dpi;
        image.Metadata.ResolutionUnits = SixLabors.ImageSharp.Metadata.PixelResolutionUnit.PixelsPerInch;
        SixLabors.ImageSharp.ImageExtensions.SaveAsPng(image, pngPath);
    }
}
