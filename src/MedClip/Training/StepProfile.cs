using MedClip.Autograd;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Models;

namespace MedClip.Training;

/// <summary>
/// Where a CPU training step's time goes: <see cref="StepBenchmark"/> run on a <see cref="TimedCpuBackend"/>, with each
/// backend op's wall time per step (GEMMs by shape), grouped into categories, beside the garbage collector's work over
/// the same timed steps (collections, pause time, bytes allocated). Time outside every op (the tape, closures, the
/// pauses that fall between ops) is the step's remainder.
/// </summary>
public static class StepProfile
{
    public static StepProfileResult Run(CpuBackend cpu, ModelPreset preset, int batchSize, int steps = StepBenchmark.DefaultSteps,
        ComputePolicy? compute = null)
    {
        var timed = new TimedCpuBackend(cpu);
        GcCounters before = default;
        long start = 0;
        var bench = StepBenchmark.Run(timed, preset, batchSize, steps, compute: compute, warmedUp: () =>
        {
            timed.Reset();
            before = GcCounters.Now();
            start = Stopwatch.GetTimestamp();
        });
        double wallMs = (Stopwatch.GetTimestamp() - start) * 1000.0 / Stopwatch.Frequency;
        var gc = GcCounters.Now() - before;
        var ops = timed.Times()
            .Select(t => new OpProfile(t.Key, Category(t.Key), (double)t.Value.Calls / steps, t.Value.Milliseconds / steps, (double)t.Value.Bytes / steps))
            .OrderByDescending(o => o.MsPerStep)
            .ToList();
        return new StepProfileResult(bench, wallMs / steps, ops, (double)gc.Gen0 / steps, (double)gc.Gen1 / steps, (double)gc.Gen2 / steps,
            gc.PauseMs / steps, (double)gc.AllocatedBytes / steps);
    }

    /// <summary>The category of an op name as <see cref="TimedCpuBackend"/> keys it.</summary>
    public static string Category(string op) => op switch
    {
        _ when op.StartsWith("Gemm", StringComparison.Ordinal) =>
            op.Contains(" batch ", StringComparison.Ordinal) ? "GEMM, attention (batched)" : "GEMM, linear layers",
        "SoftmaxForward" or "SoftmaxBackward" => "attention softmax",
        "AttentionForward" or "AttentionBackward" => "attention, fused",
        "Permute" or "Permute +=" => "permutes (head split/merge, patches)",
        _ when op.Contains("LayerNorm", StringComparison.Ordinal) => "layer norm",
        _ when op.Contains("Activation", StringComparison.Ordinal) => "GELU, tanh (with bias)",
        "AddBias" or "AddBiasResidual" or "BiasBackward" or "BiasBackwardEpilogue" or "AddBiasToBf16" => "bias and residual",
        "EmbeddingForward" or "EmbeddingBackward" => "embedding",
        _ when op.StartsWith("L2Normalize", StringComparison.Ordinal) || op.StartsWith("CrossEntropy", StringComparison.Ordinal)
            || op.StartsWith("InfoNce", StringComparison.Ordinal) || op.StartsWith("ExpScale", StringComparison.Ordinal) => "InfoNCE (L2 norm, logit scale, loss)",
        "SumOfSquares" or "ClipByNorm" or "ScaleByTensor" or "AdamW" or "AdamWMultiTensor" or "AdamWScheduled" or "AccumulateLoss" or "CloseStep"
            => "optimizer (clip, AdamW)",
        "Allocate" or "Allocate uninitialized" => "allocation (arrays, pool)",
        _ => "elementwise and copies",
    };

    private readonly record struct GcCounters(long Gen0, long Gen1, long Gen2, double PauseMs, long AllocatedBytes)
    {
        public static GcCounters Now() => new(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2),
            GC.GetTotalPauseDuration().TotalMilliseconds, GC.GetTotalAllocatedBytes(precise: true));

        public static GcCounters operator -(GcCounters a, GcCounters b) =>
            new(a.Gen0 - b.Gen0, a.Gen1 - b.Gen1, a.Gen2 - b.Gen2, a.PauseMs - b.PauseMs, a.AllocatedBytes - b.AllocatedBytes);
    }
}

/// <summary>One op's share of a step: calls, wall time and bytes (allocations) per step.</summary>
public sealed record OpProfile(string Op, string Category, double CallsPerStep, double MsPerStep, double BytesPerStep);

/// <summary>
/// A profiled run: the benchmark's result, the mean wall time of its timed steps, every op's time per step, and the
/// garbage collector's collections per step by generation, pause time and managed bytes allocated per step.
/// </summary>
public sealed record StepProfileResult(StepBenchmarkResult Benchmark, double MeanStepMs, IReadOnlyList<OpProfile> Ops,
    double Gen0PerStep, double Gen1PerStep, double Gen2PerStep, double GcPauseMsPerStep, double AllocatedBytesPerStep)
{
    /// <summary>Time per step outside every backend op: the tape and its closures, host-side bookkeeping, GC pauses between ops.</summary>
    public double OutsideOpsMs => MeanStepMs - Ops.Sum(o => o.MsPerStep);

    /// <summary>Two Markdown tables, by category then by op, with the GC line between.</summary>
    public string ToMarkdown()
    {
        var inv = CultureInfo.InvariantCulture;
        var b = Benchmark;
        var text = new StringBuilder();
        text.AppendLine(inv, $"Profile: {b.Model} on {b.Device}, {b.Precision}, {b.Attention} attention, batch {b.BatchSize}, {b.Steps} timed steps: " +
            $"mean {MeanStepMs:F1} ms per step (median {b.StepMs:F1}), timed through a decorator of every backend call.");
        text.AppendLine();
        text.AppendLine(inv, $"GC per step: {Gen0PerStep:F2} gen0, {Gen1PerStep:F2} gen1, {Gen2PerStep:F2} gen2 collections, " +
            $"{GcPauseMsPerStep:F1} ms paused, {AllocatedBytesPerStep / 1048576:F1} MiB allocated.");
        text.AppendLine();
        text.AppendLine("| category | ms per step | share |");
        text.AppendLine("|---|---:|---:|");
        var categories = Ops.GroupBy(o => o.Category).Select(g => (Name: g.Key, Ms: g.Sum(o => o.MsPerStep)))
            .Append(("outside ops (tape, GC between ops)", OutsideOpsMs)).OrderByDescending(c => c.Item2);
        foreach (var (name, ms) in categories) text.AppendLine(inv, $"| {name} | {ms:F1} | {ms / MeanStepMs:P1} |");
        text.AppendLine();
        text.AppendLine("| op | category | calls per step | ms per step | share |");
        text.AppendLine("|---|---|---:|---:|---:|");
        foreach (var o in Ops)
        {
            string bytes = o.BytesPerStep > 0 ? string.Format(inv, " ({0:F1} MiB)", o.BytesPerStep / 1048576) : "";
            text.AppendLine(inv, $"| {o.Op}{bytes} | {o.Category} | {o.CallsPerStep:0.#} | {o.MsPerStep:F2} | {o.MsPerStep / MeanStepMs:P1} |");
        }
        return text.ToString();
    }
}
