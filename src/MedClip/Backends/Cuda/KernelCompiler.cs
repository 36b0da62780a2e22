using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using MedClip.Backends.Cuda.Native;
using static MedClip.Backends.Cuda.Native.Nvrtc;

namespace MedClip.Backends.Cuda;

/// <summary>
/// Compiles kernel files (kernels/*.cu, embedded in this assembly, with kernels/common.cuh passed to NVRTC as the header
/// "common.cuh") to CUBIN for one architecture, and caches the CUBIN on disk. The cache key hashes the source, the header,
/// the options, NVRTC's version, the architecture and the device name (so the emulator's blobs never meet real ones);
/// writes go to a temporary file renamed into place, so a concurrent reader sees either nothing or a whole file.
/// </summary>
public sealed class KernelCompiler
{
    public const string HeaderName = "common.cuh";

    private readonly string _architecture;
    private readonly string _deviceKey;
    private readonly string[] _options;

    public KernelCompiler(string architecture, string deviceKey, string cacheDirectory)
    {
        _architecture = architecture;
        _deviceKey = deviceKey;
        CacheDirectory = cacheDirectory;
        _options = [$"--gpu-architecture={architecture}", "--std=c++17"];
        Check(nvrtcVersion(out int major, out int minor), "nvrtcVersion");
        NvrtcVersion = $"{major}.{minor}";
    }

    public string CacheDirectory { get; }
    public string NvrtcVersion { get; }

    /// <summary>The compute architectures the loaded NVRTC can compile for, as numbers (90 for sm_90), ascending.</summary>
    public static unsafe IReadOnlyList<int> SupportedArchitectures()
    {
        Check(nvrtcGetNumSupportedArchs(out int count), "nvrtcGetNumSupportedArchs");
        var architectures = new int[count];
        fixed (int* first = architectures)
            Check(nvrtcGetSupportedArchs(first), "nvrtcGetSupportedArchs");
        Array.Sort(architectures);
        return architectures;
    }

    /// <summary>How many programs this compiler has handed to NVRTC (cache hits do not count).</summary>
    public int Compilations { get; private set; }

    /// <summary>MEDCLIP_CACHE, else $XDG_CACHE_HOME/medclip/kernels, else ~/.cache/medclip/kernels.</summary>
    public static string DefaultCacheDirectory()
    {
        var explicitDirectory = Environment.GetEnvironmentVariable("MEDCLIP_CACHE");
        if (!string.IsNullOrEmpty(explicitDirectory)) return explicitDirectory;
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "medclip", "kernels");
    }

    /// <summary>The text of an embedded kernel file (e.g. "softmax.cu" or "common.cuh").</summary>
    public static string KernelSource(string fileName)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("kernels/" + fileName)
            ?? throw new InvalidOperationException($"Kernel file {fileName} is not embedded in MedClip.dll (see MedClip.csproj).");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The CUBIN of an embedded kernel file, from the disk cache when it is there.</summary>
    public byte[] GetCubin(string fileName) => GetCubin(fileName, KernelSource(fileName));

    public byte[] GetCubin(string fileName, string source)
    {
        string header = KernelSource(HeaderName);
        string key = CacheKey(source, header);
        string path = Path.Combine(CacheDirectory, $"{Path.GetFileNameWithoutExtension(fileName)}-{_architecture}-{key}.cubin");
        if (File.Exists(path)) return File.ReadAllBytes(path);
        var cubin = Compile(fileName, source, header);
        WriteAtomically(path, cubin);
        return cubin;
    }

    private string CacheKey(string source, string header)
    {
        var text = string.Join("\n\0", source, header, string.Join(" ", _options), NvrtcVersion, _architecture, _deviceKey);
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..20].ToLowerInvariant();
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            string temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
            {
                file.Write(bytes);
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch (IOException)
        {
            // The cache is an optimisation: a read-only or full disk only costs a compile next time.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Runs NVRTC on one kernel file; a compile error is a <see cref="KernelCompileException"/> with NVRTC's log.</summary>
    public byte[] Compile(string fileName, string source, string header) => Compile(fileName, source, header, _options).Cubin;

    /// <summary>
    /// Compiles one embedded kernel file, bypassing the cache, with ptxas asked for its report, and returns what each
    /// kernel uses. Empty under the emulator, whose "NVRTC" is g++ and has no ptxas.
    /// </summary>
    public IReadOnlyList<KernelResources> Resources(string fileName)
    {
        var (_, log) = Compile(fileName, KernelSource(fileName), KernelSource(HeaderName), [.. _options, "--ptxas-options=-v"]);
        return KernelResources.Parse(fileName, log);
    }

    /// <summary>The embedded kernel files (*.cu), in name order.</summary>
    public static IReadOnlyList<string> KernelFiles() =>
        [.. Assembly.GetExecutingAssembly().GetManifestResourceNames()
            .Where(name => name.StartsWith("kernels/", StringComparison.Ordinal) && name.EndsWith(".cu", StringComparison.Ordinal))
            .Select(name => name["kernels/".Length..]).Order(StringComparer.Ordinal)];

    private unsafe (byte[] Cubin, string Log) Compile(string fileName, string source, string header, string[] compileOptions)
    {
        Compilations++;
        var strings = new List<nint>();
        try
        {
            byte* Utf8(string s)
            {
                var p = Marshal.StringToCoTaskMemUTF8(s);
                strings.Add(p);
                return (byte*)p;
            }
            byte** headers = stackalloc byte*[1];
            byte** includeNames = stackalloc byte*[1];
            headers[0] = Utf8(header);
            includeNames[0] = Utf8(HeaderName);
            Check(nvrtcCreateProgram(out nint program, Utf8(source), Utf8(fileName), 1, headers, includeNames), "nvrtcCreateProgram");
            try
            {
                byte** options = stackalloc byte*[compileOptions.Length];
                for (int i = 0; i < compileOptions.Length; i++) options[i] = Utf8(compileOptions[i]);
                int result = nvrtcCompileProgram(program, compileOptions.Length, options);
                string log = ProgramLog(program);
                if (result != 0)
                {
                    throw new KernelCompileException(
                        $"Kernel file {fileName} failed to compile for {_architecture} (NVRTC {NvrtcVersion}: {ErrorString(result)}):\n{(log.Length > 0 ? log : "(NVRTC gave no log)")}");
                }
                Check(nvrtcGetCUBINSize(program, out nuint size), "nvrtcGetCUBINSize");
                var cubin = new byte[(int)size];
                fixed (byte* p = cubin) Check(nvrtcGetCUBIN(program, p), "nvrtcGetCUBIN");
                return (cubin, log);
            }
            finally
            {
                nvrtcDestroyProgram(ref program);
            }
        }
        finally
        {
            foreach (var p in strings) Marshal.FreeCoTaskMem(p);
        }
    }

    private static unsafe string ProgramLog(nint program)
    {
        if (nvrtcGetProgramLogSize(program, out nuint size) != 0 || size <= 1) return "";
        var log = new byte[(int)size];
        fixed (byte* p = log)
        {
            if (nvrtcGetProgramLog(program, p) != 0) return "";
        }
        return Encoding.UTF8.GetString(log, 0, (int)size - 1).TrimEnd();
    }
}
