using System.Diagnostics;
using System.Text.Json.Nodes;

namespace MedClip.Training;

/// <summary>
/// The metrics lines a run writes (rank 0, every --report-to sink): a step's loss, learning rates, logit scale, gradient
/// norm and images per second since the previous logged step, every --log-every steps and at the last; skipped steps
/// and validation losses when they happen.
/// </summary>
internal sealed class StepLog : IDisposable
{
    private readonly MetricsReport _report;
    private readonly TrainingOptions _options;
    private readonly int _batchesPerEpoch;
    private readonly Stopwatch _window = Stopwatch.StartNew();
    private int _imagesSinceLog;

    /// <param name="resumedAt">The step a resumed run continues from (metrics.jsonl keeps its lines up to it, and is appended to); null for a new run.</param>
    public StepLog(TrainingOptions options, int batchesPerEpoch, int? resumedAt)
    {
        string output = options.OutputDirectory;
        if (resumedAt is int step) MetricsLog.KeepThrough(Path.Combine(output, RunFolder.MetricsFile), step);
        _report = MetricsReport.Open(output, options.ReportTo, append: resumedAt is not null);
        _options = options;
        _batchesPerEpoch = batchesPerEpoch;
    }

    /// <summary>Counts a completed step's images and writes its line when logging is due.</summary>
    public void Step(TrainerState state, double loss, double lr, double logitScale, double gradNorm, int images, TimeSpan elapsed)
    {
        _imagesSinceLog += images;
        if (!state.IsDue(_options.LogEvery)) return;
        double imagesPerSecond = _imagesSinceLog / Math.Max(1e-9, _window.Elapsed.TotalSeconds);
        _report.Write(new JsonObject
        {
            ["step"] = state.GlobalStep,
            ["epoch"] = Math.Round((double)state.ConsumedBatches / _batchesPerEpoch, 4),
            ["loss"] = loss,
            ["lr"] = lr,
            ["lr_towers"] = lr * (_options.LearningRateTowers ?? _options.LearningRate) / _options.LearningRate,
            ["logit_scale"] = logitScale,
            ["grad_norm"] = gradNorm,
            ["images_per_s"] = Math.Round(imagesPerSecond, 2),
            ["elapsed_s"] = Math.Round(elapsed.TotalSeconds, 2),
        });
        _imagesSinceLog = 0;
        _window.Restart();
    }

    /// <summary>A step skipped because <paramref name="nonFinite"/> ("loss" or "gradient norm") is not finite.</summary>
    public void Skipped(int step, double loss, double gradNorm, string nonFinite) =>
        _report.Write(new JsonObject { ["step"] = step, ["loss"] = loss, ["grad_norm"] = gradNorm, ["skipped"] = $"non-finite {nonFinite}" });

    public void Validation(int step, double validationLoss) => _report.Write(new JsonObject { ["step"] = step, ["val_loss"] = validationLoss });

    public void Dispose() => _report.Dispose();
}
