using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;
using MedClip.Backends.Cuda;
using MedClip.Backends.Cuda.Native;

namespace MedClip.Cli.Commands;

/// <summary>
/// <c>medclip-train kernels [--arch sm_80,sm_90] [--json]</c>: compiles every CUDA kernel file with the NVRTC found
/// (no driver or GPU needed) for each architecture and prints what ptxas says each kernel uses: registers per thread,
/// spills, stack and static shared memory, and the largest block its registers allow. Exit 0 only if every file compiled.
/// </summary>
internal static partial class KernelsCommand
{
    public static Command Create()
    {
        var architectures = new Option<string>("--arch")
        {
            Description = "Compute architectures, comma-separated (sm_XY)",
            DefaultValueFactory = _ => "sm_80,sm_90",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var command = new Command("kernels", "Compile every CUDA kernel with NVRTC (no GPU); report registers and spills.")
        {
            architectures, json,
        };
        command.SetAction(parsed => Run(ParseArchitectures(parsed.GetValue(architectures)!), parsed.GetValue(json)));
        return command;
    }

    private static string[] ParseArchitectures(string text)
    {
        var list = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var architecture in list)
        {
            if (!ArchitectureName().IsMatch(architecture))
                throw new UsageException($"--arch '{architecture}' is not a compute architecture such as sm_80 or sm_90.");
        }
        return list.Length > 0 ? list : throw new UsageException("--arch names no architecture; give one such as sm_90.");
    }

    private static int Run(string[] architectures, bool json)
    {
        LoadedLibraries libraries;
        try
        {
            libraries = CudaLibraries.EnsureCompilerLoaded();
        }
        catch (CudaUnavailableException e)
        {
            throw new UsageException(e.Message);
        }
        var supported = KernelCompiler.SupportedArchitectures();
        foreach (var architecture in architectures)
        {
            if (!supported.Contains(int.Parse(ArchitectureNumber().Match(architecture).Value, System.Globalization.CultureInfo.InvariantCulture)))
                throw new UsageException($"--arch {architecture}: the NVRTC in use ({libraries.NvrtcPath}) cannot compile for it; it targets sm_{string.Join(", sm_", supported)}.");
        }
        var resources = new List<KernelResources>();
        var failures = new List<(string Architecture, string File, string Message)>();
        string nvrtcVersion = "";
        foreach (var architecture in architectures)
        {
            var compiler = new KernelCompiler(architecture, "kernels-command", KernelCompiler.DefaultCacheDirectory());
            nvrtcVersion = compiler.NvrtcVersion;
            foreach (var file in KernelCompiler.KernelFiles())
            {
                try
                {
                    resources.AddRange(compiler.Resources(file));
                }
                catch (Exception e) when (e is KernelCompileException or CudaException)
                {
                    failures.Add((architecture, file, e.Message));
                }
            }
        }

        if (json)
        {
            Console.WriteLine(ToJson(libraries, nvrtcVersion, architectures, resources, failures));
        }
        else
        {
            Console.WriteLine($"kernels: NVRTC {nvrtcVersion} ({libraries.NvrtcPath}{(libraries.IsEmulator ? ", the emulator: g++ reports no resources" : "")})");
            Console.WriteLine($"{"architecture",-12} {"file",-18} {"kernel",-44} {"registers",9} {"spill st",9} {"spill ld",9} {"stack",6} {"smem",7} {"max block",9}");
            foreach (var r in resources)
            {
                Console.WriteLine($"{r.Architecture,-12} {r.File,-18} {r.Kernel,-44} {r.Registers,9} {r.SpillStoreBytes,9} {r.SpillLoadBytes,9} " +
                    $"{r.StackFrameBytes,6} {r.SharedBytes,7} {r.MaxThreadsPerBlock,9}");
            }
            foreach (var (architecture, file, message) in failures)
                Console.Error.WriteLine($"{architecture} {file}: {message}");
            int files = KernelCompiler.KernelFiles().Count * architectures.Length;
            Console.WriteLine($"kernels: {files - failures.Count} of {files} files compiled for {string.Join(", ", architectures)}; " +
                $"{resources.Count} kernels, {resources.Count(r => r.Spills)} of them spilling registers to local memory.");
        }
        return failures.Count == 0 ? 0 : 1;
    }

    private static string ToJson(LoadedLibraries libraries, string nvrtcVersion, string[] architectures, List<KernelResources> resources,
        List<(string Architecture, string File, string Message)> failures)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("nvrtc", nvrtcVersion);
            json.WriteString("nvrtc_library", libraries.NvrtcPath);
            json.WriteBoolean("emulator", libraries.IsEmulator);
            json.WriteStartArray("architectures");
            foreach (var architecture in architectures) json.WriteStringValue(architecture);
            json.WriteEndArray();
            json.WriteStartArray("kernels");
            foreach (var r in resources)
            {
                json.WriteStartObject();
                json.WriteString("architecture", r.Architecture);
                json.WriteString("file", r.File);
                json.WriteString("kernel", r.Kernel);
                json.WriteNumber("registers", r.Registers);
                json.WriteNumber("spill_store_bytes", r.SpillStoreBytes);
                json.WriteNumber("spill_load_bytes", r.SpillLoadBytes);
                json.WriteNumber("stack_frame_bytes", r.StackFrameBytes);
                json.WriteNumber("shared_bytes", r.SharedBytes);
                json.WriteNumber("max_threads_per_block", r.MaxThreadsPerBlock);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("failures");
            foreach (var (architecture, file, message) in failures)
            {
                json.WriteStartObject();
                json.WriteString("architecture", architecture);
                json.WriteString("file", file);
                json.WriteString("message", message);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    [GeneratedRegex(@"^(sm|compute)_\d+[a-z]?$")]
    private static partial Regex ArchitectureName();

    [GeneratedRegex(@"\d+")]
    private static partial Regex ArchitectureNumber();
}
