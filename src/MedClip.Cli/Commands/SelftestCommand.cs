using System.CommandLine;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Backends.Cuda;
using MedClip.Models;
using MedClip.Tensors;

namespace MedClip.Cli.Commands;

/// <summary>
/// `medclip-train selftest`: every backend op forward and backward against the CPU reference, then a two-step training
/// run of a small dual encoder on both. One line per check, a summary, exit 0 only if everything passed.
/// </summary>
public static class SelftestCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "Backend to check against the CPU: cuda, auto or cpu.", DefaultValueFactory = _ => "cuda" };
        device.AcceptOnlyFromAmong(DeviceSelection.Names);
        var precision = CommonOptions.Precision();
        var model = new Option<string>("--model") { Description = "Preset trained for the two-step comparison (tiny, small, base, or micro: 2+2 layers of width 16 for the emulator).", DefaultValueFactory = _ => "tiny" };
        var batch = new Option<int>("--batch-size") { Description = "Batch of the training comparison.", DefaultValueFactory = _ => 4 };
        var command = new Command("selftest", "Check every backend op, forward and backward, and a short training run against the CPU reference.")
        {
            device, precision, model, batch,
        };
        command.SetAction(result => Run(result.GetValue(device)!, result.GetValue(precision)!, result.GetValue(model)!, result.GetValue(batch)));
        return command;
    }

    // bf16 adds the mixed-precision checks (BF16 GEMMs, autocast linear and matmul, AdamW's BF16 copy), a bf16 training
    // comparison against the CPU's emulation of it, and one of bf16 against fp32 on the device at a looser tolerance.
    private static int Run(string deviceName, string precision, string modelName, int batch)
    {
        var backend = DeviceSelection.Resolve(deviceName);
        Console.WriteLine($"selftest: {Describe(backend)} against the CPU reference, {precision}");
        var test = new BackendSelfTest(backend, CpuBackend.Instance, DType.F32);
        var (config, context) = modelName == "micro" ? BackendSelfTest.MicroModel() : Preset(modelName);
        var checks = test.OpChecks();
        if (precision == "bf16") checks = checks.Concat(test.Bf16Checks());
        checks = checks.Concat(test.TrainingChecks(config, batch, context));
        if (precision == "bf16")
            checks = checks.Concat(test.TrainingChecks(config, batch, context, bf16: true)).Concat(test.Bf16VersusFp32Checks(config, batch, context));

        int passed = 0, failed = 0;
        foreach (var check in checks)
        {
            Console.WriteLine(check);
            if (check.Passed) passed++;
            else failed++;
        }
        foreach (var check in test.Tf32Checks())
            Console.WriteLine($"info {check} (TF32, reported separately)");
        if (backend is CudaBackend cuda)
        {
            Console.WriteLine($"arena: {cuda.Arena.DeviceAllocations} cuMemAlloc calls, {cuda.Arena.ReservedBytes / (1 << 20)} MiB reserved; " +
                $"kernel compilations this run: {cuda.Compiler.Compilations} (cache {cuda.Compiler.CacheDirectory})");
            cuda.Dispose();
        }
        Console.WriteLine(failed == 0 ? $"selftest passed: {passed} checks" : $"selftest FAILED: {failed} of {passed + failed} checks");
        return failed == 0 ? 0 : 1;
    }

    private static (DualEncoderConfig, int) Preset(string name)
    {
        var preset = ModelPresets.Get(name);
        return (preset.Config, Math.Min(16, preset.ContextLength));
    }

    private static string Describe(IBackend backend) => backend is CudaBackend cuda
        ? $"cuda on {cuda.Device} (driver {cuda.Device.DriverVersion}, NVRTC {cuda.Compiler.NvrtcVersion}{(cuda.Device.IsEmulator ? ", emulator" : "")})"
        : backend.Name;
}
