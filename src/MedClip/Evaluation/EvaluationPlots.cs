using ScottPlot;

namespace MedClip.Evaluation;

/// <summary>The report's PNG figures, drawn with ScottPlot.</summary>
public static class EvaluationPlots
{
    private const int Width = 720, Height = 560;

    /// <summary>ROC curves of the labels that have one, with the AUROC and the Youden point, and the chance diagonal.</summary>
    public static void RocCurves(string path, string title, IReadOnlyList<BinaryLabelResult> results)
    {
        var plot = new Plot();
        var chance = plot.Add.ScatterLine(new double[] { 0, 1 }, new double[] { 0, 1 });
        chance.LineColor = Colors.Gray;
        chance.LinePattern = LinePattern.Dashed;
        chance.LegendText = "chance";
        // Ten distinct colours serve the five competition labels; all fourteen CheXpert labels need twenty.
        IPalette palette = results.Count(r => r.Auroc is not null) > 10 ? new ScottPlot.Palettes.Category20() : new ScottPlot.Palettes.Category10();
        int i = 0;
        foreach (var r in results.Where(r => r.Auroc is not null))
        {
            var color = palette.GetColor(i++);
            var line = plot.Add.ScatterLine(r.Roc.Select(p => p.FalsePositiveRate).ToArray(), r.Roc.Select(p => p.TruePositiveRate).ToArray());
            line.LineColor = color;
            line.LineWidth = 2;
            line.LegendText = $"{r.Label} ({r.Auroc:F3})";
            if (r.Youden is { } y)
            {
                var marker = plot.Add.Marker(1 - y.Specificity, y.Sensitivity);
                marker.Color = color;
                marker.Size = 8;
            }
        }
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.Title(title);
        plot.XLabel("1 - specificity (false positive rate)");
        plot.YLabel("sensitivity (true positive rate)");
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(path, Width, Height);
    }

    /// <summary>A confusion matrix as a heat map with the count in each cell; rows (y) are the true class.</summary>
    public static void ConfusionMatrix(string path, string title, int[,] counts, IReadOnlyList<string> classes)
    {
        int k = classes.Count;
        var plot = new Plot();
        var colormap = new ScottPlot.Colormaps.Viridis();
        double max = Math.Max(1, counts.Cast<int>().DefaultIfEmpty(0).Max());
        // True class r is drawn as row k - 1 - r, so the first class is at the top as in a printed matrix.
        for (int r = 0; r < k; r++)
        {
            for (int c = 0; c < k; c++)
            {
                double y = k - 1 - r, fraction = counts[r, c] / max;
                var cell = plot.Add.Rectangle(c - 0.5, c + 0.5, y - 0.5, y + 0.5);
                cell.FillColor = colormap.GetColor(fraction);
                cell.LineWidth = 0;
                var text = plot.Add.Text(counts[r, c].ToString(System.Globalization.CultureInfo.InvariantCulture), c, y);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = 16;
                text.LabelFontColor = fraction > 0.5 ? Colors.Black : Colors.White;
            }
        }
        var positions = Enumerable.Range(0, k).Select(i => (double)i).ToArray();
        plot.Axes.Bottom.SetTicks(positions, classes.ToArray());
        plot.Axes.Left.SetTicks(positions, classes.Reverse().ToArray());
        plot.Axes.SetLimits(-0.5, k - 0.5, -0.5, k - 0.5);
        plot.Title(title);
        plot.XLabel("predicted");
        plot.YLabel("true");
        plot.SavePng(path, Width, Height);
    }

    /// <summary>A curve (or two) over training steps.</summary>
    public static void StepCurves(string path, string title, string yLabel, params (string Name, IReadOnlyList<(int Step, double Value)> Points)[] curves)
    {
        var plot = new Plot();
        foreach (var (name, points) in curves.Where(c => c.Points.Count > 0))
        {
            var line = plot.Add.Scatter(points.Select(p => (double)p.Step).ToArray(), points.Select(p => p.Value).ToArray());
            line.LegendText = name;
            line.LineWidth = 2;
            line.MarkerSize = points.Count <= 3 ? 7 : 0;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, Width, Height);
    }
}
