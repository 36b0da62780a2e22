using System.CommandLine;
using MedClip.Models;
using MedClip.Training;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train bench [--device auto|cpu|cuda] [--model PRESET] [--batch-size N] [--steps N] [--precision fp32|bf16] [--json]:
/// times full training steps on random data (see <see cref="StepBenchmark"/>).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var device = CommonOptions.Device();
        var model = CommonOptions.ModelPreset();
        var batchSize = CommonOptions.PositiveInt("--batch-size", "Image-text pairs per step (default 32 for tiny, 64 for small, 256 for base).");
        var steps = CommonOptions.PositiveInt("--steps", $"Timed steps, after {StepBenchmark.DefaultWarmupSteps} warm-up steps (default {StepBenchmark.DefaultSteps}).");
        var precision = CommonOptions.Precision();
        var json = CommonOptions.Json();
        var command = new Command("bench", "Time full training steps (forward, InfoNCE, backward, clipping, AdamW) on random data.")
        {
            device, model, batchSize, steps, precision, json,
        };
        command.SetAction(parsed =>
        {
            var backend = DeviceSelection.Resolve(parsed.GetValue(device)!, parsed.GetValue(precision)!);
            var preset = ModelPresets.Resolve(parsed.GetValue(model)!);
            var result = StepBenchmark.Run(backend, preset, parsed.GetValue(batchSize) ?? StepBenchmark.DefaultBatchSize(preset.Name),
                parsed.GetValue(steps) ?? StepBenchmark.DefaultSteps);
            Console.WriteLine(parsed.GetValue(json) ? result.ToJson() : Summary(result));
            return 0;
        });
        return command;
    }

    private static string Summary(StepBenchmarkResult r) =>
        $"""
        bench: {r.Model} ({r.Parameters:N0} parameters) on {r.Device}, {r.Precision}, batch {r.BatchSize}, median of {r.Steps} steps
          step      {r.StepMs,9:F1} ms  (forward {r.ForwardMs:F1}, backward {r.BackwardMs:F1}, clip + AdamW {r.UpdateMs:F1})
          images/s  {r.ImagesPerSecond,9:F1}
          TFLOP/s   {r.Tflops,9:F4}  (6 x forward matmul multiply-adds per step){(r.Mfu is double mfu ? $"\n  MFU       {mfu,9:P1}" : "")}
        """;
}
