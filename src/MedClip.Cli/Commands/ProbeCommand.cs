using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MedClip.Backends.Cuda;
using MedClip.Backends.Cuda.Native;

namespace MedClip.Cli.Commands;

/// <summary>
/// <c>medclip-train probe</c>: opens the CUDA device the way training does and prints one JSON line: the file each of the
/// driver, NVRTC and cuBLAS was loaded from (symbolic links resolved, so the versions show in the names), the driver and
/// NVRTC versions, the card, and one kernel file compiled to a CUBIN for the card's architecture. Exit 0 only if all of
/// it worked; tools/gpu/check.sh runs it first.
/// </summary>
internal static class ProbeCommand
{
    private const string ProbeKernelFile = "elementwise.cu";

    public static Command Create()
    {
        var command = new Command("probe", "Load the CUDA libraries, open the device, compile one kernel file; print one JSON line.");
        command.SetAction(_ => Run());
        return command;
    }

    private static int Run()
    {
        CudaBackend backend;
        try
        {
            backend = new CudaBackend();
        }
        catch (CudaUnavailableException e)
        {
            throw new UsageException(e.Message);
        }
        var libraries = CudaLibraries.Loaded!;
        var device = backend.Device;
        var clock = Stopwatch.StartNew();
        var compiler = new KernelCompiler(device.Architecture, "probe", KernelCompiler.DefaultCacheDirectory());
        int cubinBytes = compiler.Compile(ProbeKernelFile, KernelCompiler.KernelSource(ProbeKernelFile), KernelCompiler.KernelSource(KernelCompiler.HeaderName)).Length;
        double compileSeconds = clock.Elapsed.TotalSeconds;

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("driver_library", LoadedFile(libraries.DriverPath));
            json.WriteString("nvrtc_library", LoadedFile(libraries.NvrtcPath));
            json.WriteString("cublas_library", LoadedFile(libraries.CublasPath));
            json.WriteBoolean("emulator", libraries.IsEmulator);
            json.WriteNumber("driver_version", device.DriverVersion);
            json.WriteString("nvrtc_version", compiler.NvrtcVersion);
            json.WriteString("device", device.Name);
            json.WriteString("architecture", device.Architecture);
            json.WriteNumber("multiprocessors", device.Multiprocessors);
            json.WriteNumber("memory_mib", device.TotalMemory / 1048576);
            json.WriteString("cubin_file", ProbeKernelFile);
            json.WriteNumber("cubin_bytes", cubinBytes);
            json.WriteNumber("cubin_seconds", Math.Round(compileSeconds, 2));
            json.WriteEndObject();
        }
        Console.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
        backend.Dispose();
        return 0;
    }

    // A library loaded by bare name (through the loader path) is looked up in this process's mappings for its file.
    private static string LoadedFile(string path)
    {
        if (Path.IsPathRooted(path)) return new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
        string? mapped = File.Exists("/proc/self/maps")
            ? File.ReadLines("/proc/self/maps").Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
                .FirstOrDefault(file => Path.GetFileName(file).StartsWith(path, StringComparison.Ordinal))
            : null;
        return mapped ?? path;
    }
}
