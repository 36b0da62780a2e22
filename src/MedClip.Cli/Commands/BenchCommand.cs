using System.CommandLine;
using MedClip.Backends.Cuda;
using MedClip.Data;
using MedClip.Data.Loading;
using MedClip.Models;
using MedClip.Training;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train bench [--device auto|cpu|cuda] [--model PRESET] [--batch-size N] [--steps N] [--precision fp32|bf16]
/// [--attention gemm|fused] [--tf32] [--phase-times] [--json]:
/// times full training steps on random data (see <see cref="StepBenchmark"/>).
/// With --data SPEC [--image-size PX] [--workers N] it times the input pipeline instead (<see cref="LoaderBenchmark"/>):
/// images per second delivered from that dataset's training split with augmentation, --steps batches.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var device = CommonOptions.Device();
        var model = CommonOptions.ModelPreset();
        var batchSize = CommonOptions.PositiveInt("--batch-size", "Pairs per step (default 32 tiny, 64 small, 256 base)");
        var steps = CommonOptions.PositiveInt("--steps", $"Timed steps, after {StepBenchmark.DefaultWarmupSteps} warm-up steps (default {StepBenchmark.DefaultSteps}).");
        var precision = CommonOptions.Precision();
        var attention = CommonOptions.Attention();
        var tf32 = new Option<bool>("--tf32") { Description = "CUDA fp32: F32 GEMMs on TF32 tensor cores (about 1e-3 relative error)" };
        var phases = new Option<bool>("--phase-times") { Description = "On a GPU: wait for the device between forward, backward and update to time each" };
        var json = CommonOptions.Json();
        var data = new Option<string?>("--data") { Description = "Time the data loader on this dataset instead (docs/data.md)" };
        var dataOptions = new DataOptionSet();
        var imageSize = CommonOptions.PositiveInt("--image-size", "With --data: image side delivered (default 224).");
        var workers = CommonOptions.PositiveInt("--workers", "With --data: loader threads (default: one per core).");
        var noAugment = new Option<bool>("--no-augment") { Description = "With --data: no augmentation (to see its share of the time)" };
        var command = new Command("bench", "Time training steps on random data, or with --data the data loader.")
        {
            device, model, batchSize, steps, precision, attention, tf32, phases, json, data, imageSize, workers, noAugment,
        };
        dataOptions.AddTo(command);
        command.SetAction(parsed =>
        {
            if (parsed.GetValue(data) is string spec)
            {
                int size = parsed.GetValue(imageSize) ?? 224;
                var dataset = DatasetSpec.Parse(spec).Load(Directory.GetCurrentDirectory(), size, seed: 0, Console.Error.WriteLine, options: dataOptions.Read(parsed));
                var loader = LoaderBenchmark.Run(dataset, spec, size, parsed.GetValue(batchSize) ?? 32, parsed.GetValue(steps) ?? 20,
                    parsed.GetValue(workers) ?? Environment.ProcessorCount, augment: !parsed.GetValue(noAugment));
                Console.WriteLine(parsed.GetValue(json) ? loader.ToJson() : loader.ToString());
                return 0;
            }
            var backend = DeviceSelection.Resolve(parsed.GetValue(device)!);
            if (parsed.GetValue(tf32))
            {
                if (backend is not CudaBackend cuda) throw new UsageException("--tf32 needs a CUDA device: TF32 is a tensor-core format, and the CPU computes in FP32.");
                if (parsed.GetValue(precision) == "bf16") throw new UsageException("--tf32 applies to fp32 GEMMs; with --precision bf16 they run on BF16 operands.");
                cuda.AllowTf32 = true;
            }
            var preset = ModelPresets.Resolve(parsed.GetValue(model)!);
            var result = StepBenchmark.Run(backend, preset, parsed.GetValue(batchSize) ?? StepBenchmark.DefaultBatchSize(preset.Name),
                parsed.GetValue(steps) ?? StepBenchmark.DefaultSteps, bf16: parsed.GetValue(precision) == "bf16",
                fusedAttention: parsed.GetValue(attention) == "fused", phaseTimes: parsed.GetValue(phases));
            Console.WriteLine(parsed.GetValue(json) ? result.ToJson() : Summary(result));
            return 0;
        });
        return command;
    }

    private static string Summary(StepBenchmarkResult r) =>
        $"""
        bench: {r.Model} ({r.Parameters:N0} parameters) on {r.Device}, {r.Precision}, {r.Attention} attention, batch {r.BatchSize}, median of {r.Steps} steps
          step      {r.StepMs,9:F1} ms{(r.PhaseTimes ? $"  (forward {r.ForwardMs:F1}, backward {r.BackwardMs:F1}, clip + AdamW {r.UpdateMs:F1})" : "")}
          images/s  {r.ImagesPerSecond,9:F1}
          TFLOP/s   {r.Tflops,9:F4}  (6 x forward matmul multiply-adds per step){(r.CpuGemm is string gemm ? $"\n  GEMM      {gemm,9}  (CPU vector path)" : "")}{(r.Mfu is double mfu ? $"\n  MFU       {mfu,9:P1}" : "")}{(r.ReservedBytes is long bytes ? $"\n  device    {bytes / 1048576.0,9:N0} MiB reserved ({r.ReservedAfterWarmupBytes / 1048576.0:N0} after warm-up)" : "")}
        """;
}
