using System.Reflection;
using System.Runtime.InteropServices;

namespace MedClip.Backends.Cuda.Native;

/// <summary>Where to look for the three CUDA libraries (see <see cref="CudaLibraries.Locate"/>).</summary>
/// <param name="Emulator">Load tests/cuda-emulator's one library for all three APIs (MEDCLIP_CUDA=emulator).</param>
/// <param name="EmulatorPath">MEDCLIP_CUDA_EMULATOR: the emulator library's full path.</param>
/// <param name="LibraryPath">MEDCLIP_CUDA_LIB_PATH: folders (':'-separated) searched first.</param>
/// <param name="UseLoaderPath">Also ask the system loader (LD_LIBRARY_PATH, ldconfig) by bare file name.</param>
/// <param name="Folders">The fixed folders searched after the loader path.</param>
/// <param name="BaseDirectory">The application's folder (the emulator is searched there and above it).</param>
public sealed record CudaLibrarySearch(bool Emulator, string? EmulatorPath, string? LibraryPath, bool UseLoaderPath,
    IReadOnlyList<string> Folders, string BaseDirectory)
{
    public const string EmulatorFileName = "libmedclip_cuda_emulator.so";

    /// <summary>The search the environment asks for: MEDCLIP_CUDA, MEDCLIP_CUDA_EMULATOR, MEDCLIP_CUDA_LIB_PATH.</summary>
    public static CudaLibrarySearch FromEnvironment() => new(
        Environment.GetEnvironmentVariable("MEDCLIP_CUDA") == "emulator",
        Environment.GetEnvironmentVariable("MEDCLIP_CUDA_EMULATOR"),
        Environment.GetEnvironmentVariable("MEDCLIP_CUDA_LIB_PATH"),
        UseLoaderPath: true,
        DefaultFolders(),
        AppContext.BaseDirectory);

    /// <summary>
    /// Every /usr/local/cuda* installation's library folders (cuda, then versioned ones such as cuda-13.0, newest
    /// first), then the nvidia/*/lib folders (CUDA 13's wheels put theirs in nvidia/cu13/lib) of the Python
    /// environments found: the active virtual or conda environment, virtual environments under /opt, the system's and
    /// the user's.
    /// </summary>
    public static IReadOnlyList<string> DefaultFolders()
    {
        var folders = new List<string>();
        if (Directory.Exists("/usr/local"))
        {
            foreach (var cuda in Directory.EnumerateDirectories("/usr/local", "cuda*").OrderBy(d => d == "/usr/local/cuda" ? 0 : 1)
                .ThenByDescending(d => d, StringComparer.Ordinal))
            {
                folders.Add(Path.Combine(cuda, "lib64"));
                folders.Add(Path.Combine(cuda, "targets/x86_64-linux/lib"));
            }
        }
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var environments = new[] { Environment.GetEnvironmentVariable("VIRTUAL_ENV"), Environment.GetEnvironmentVariable("CONDA_PREFIX") }
            .OfType<string>().Where(e => e.Length > 0).Select(e => Path.Combine(e, "lib")).ToList();
        if (Directory.Exists("/opt"))
        {
            foreach (var opt in Directory.EnumerateDirectories("/opt").Order(StringComparer.Ordinal))
                environments.AddRange([Path.Combine(opt, ".venv/lib"), Path.Combine(opt, "venv/lib"), Path.Combine(opt, "lib")]);
        }
        environments.AddRange(["/usr/lib", "/usr/local/lib", Path.Combine(home, ".local/lib")]);
        foreach (var root in environments.Distinct().Where(Directory.Exists))
        {
            foreach (var python in Directory.EnumerateDirectories(root, "python3*").Order(StringComparer.Ordinal))
            {
                foreach (var packages in new[] { "site-packages", "dist-packages" })
                {
                    string nvidia = Path.Combine(python, packages, "nvidia");
                    if (!Directory.Exists(nvidia)) continue;
                    foreach (var package in Directory.EnumerateDirectories(nvidia).Order(StringComparer.Ordinal))
                    {
                        folders.Add(Path.Combine(package, "lib"));
                        folders.Add(Path.Combine(package, "lib64"));
                    }
                }
            }
        }
        return folders;
    }
}

/// <summary>
/// Finds and loads libcuda, libnvrtc and libcublas (or the emulator for all three) and routes the LibraryImports of
/// <see cref="CudaDriver"/>, <see cref="Nvrtc"/> and <see cref="Cublas"/> to them through a DllImport resolver. A
/// missing library is a <see cref="CudaUnavailableException"/> with one sentence saying what to install.
/// </summary>
public static class CudaLibraries
{
    private static readonly Lock Gate = new();
    private static LoadedLibraries? _loaded;

    /// <summary>The paths (or bare names) of the libraries in use, once loaded.</summary>
    public static LoadedLibraries? Loaded => _loaded;

    /// <summary>Loads the libraries the environment asks for; later calls return the same set.</summary>
    public static LoadedLibraries EnsureLoaded()
    {
        lock (Gate)
        {
            if (_loaded is { CompilerOnly: true })
                throw new InvalidOperationException("This process loaded NVRTC alone to compile kernels; the CUDA backend needs all three libraries, loaded first.");
            return _loaded ?? Install(Locate(CudaLibrarySearch.FromEnvironment()));
        }
    }

    /// <summary>
    /// Loads NVRTC alone (or the emulator), which compiles kernels on a machine without a driver or GPU
    /// (<c>medclip-train kernels</c>). Any NVRTC from CUDA 11.2 on will do here: a CUBIN for a given architecture is
    /// what the kernels' resources are read from, and the backend proper still asks for .13 or .12.
    /// </summary>
    public static LoadedLibraries EnsureCompilerLoaded()
    {
        lock (Gate)
        {
            if (_loaded is not null) return _loaded;
            var search = CudaLibrarySearch.FromEnvironment();
            if (search.Emulator) return Install(Locate(search));
            var nvrtc = Load(search, ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"], NvrtcBuiltins)
                ?? throw new CudaUnavailableException("No NVRTC found (libnvrtc.so.13, .12 or .11.2): install the CUDA toolkit, pip nvidia-cuda-nvrtc (CUDA 13) or nvidia-cuda-nvrtc-cu12, or Debian's libnvrtc11.2 (non-free), or set MEDCLIP_CUDA_LIB_PATH to its lib folder.");
            return Install(new LoadedLibraries("", 0, nvrtc.Path, nvrtc.Handle, "", 0, IsEmulator: false, CompilerOnly: true));
        }
    }

    private static LoadedLibraries Install(LoadedLibraries set)
    {
        _loaded = set;
        NativeLibrary.SetDllImportResolver(typeof(CudaLibraries).Assembly, Resolve);
        return set;
    }

    /// <summary>Finds and loads the three libraries following <paramref name="search"/>; throws <see cref="CudaUnavailableException"/>.</summary>
    public static LoadedLibraries Locate(CudaLibrarySearch search)
    {
        if (search.Emulator)
        {
            var emulator = LoadEmulator(search);
            return new LoadedLibraries(emulator.Path, emulator.Handle, emulator.Path, emulator.Handle, emulator.Path, emulator.Handle, IsEmulator: true);
        }
        var cuda = Load(search, ["libcuda.so.1"], null)
            ?? throw new CudaUnavailableException("No CUDA driver found (libcuda.so.1): install the NVIDIA driver or use --device cpu.", noDriver: true);
        var nvrtc = Load(search, ["libnvrtc.so.13", "libnvrtc.so.12"], NvrtcBuiltins)
            ?? throw new CudaUnavailableException("No NVRTC found (libnvrtc.so.13 or .12): install the CUDA toolkit (or pip nvidia-cuda-nvrtc for CUDA 13, nvidia-cuda-nvrtc-cu12 for 12), set MEDCLIP_CUDA_LIB_PATH to its lib folder, or use --device cpu.");
        var cublas = Load(search, ["libcublas.so.13", "libcublas.so.12"], "libcublasLt")
            ?? throw new CudaUnavailableException("No cuBLAS found (libcublas.so.13 or .12): install the CUDA toolkit (or pip nvidia-cublas for CUDA 13, nvidia-cublas-cu12 for 12), set MEDCLIP_CUDA_LIB_PATH to its lib folder, or use --device cpu.");
        return new LoadedLibraries(cuda.Path, cuda.Handle, nvrtc.Path, nvrtc.Handle, cublas.Path, cublas.Handle, IsEmulator: false);
    }

    // NVRTC opens libnvrtc-builtins.so.<major>.<minor> by bare name at its first compile; loaded from a folder the
    // loader does not search, that fails every compile (NVRTC_ERROR_BUILTIN_OPERATION_FAILURE) unless it is loaded first.
    private const string NvrtcBuiltins = "libnvrtc-builtins";

    // MEDCLIP_CUDA_LIB_PATH folders, then the loader by bare name, then the fixed folders; for each folder the names are
    // tried in order (newest major version first). A companion of the same major version in the same folder (cublasLt,
    // NVRTC's builtins) is loaded first, so that the library's own dependency resolves to it.
    private static (string Path, nint Handle)? Load(CudaLibrarySearch search, string[] names, string? companion)
    {
        foreach (var folder in (search.LibraryPath ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            if (TryFolder(folder, names, companion) is { } found) return found;
        }
        if (search.UseLoaderPath)
        {
            foreach (var name in names)
            {
                if (NativeLibrary.TryLoad(name, out var handle)) return (name, handle);
            }
        }
        foreach (var folder in search.Folders)
        {
            if (TryFolder(folder, names, companion) is { } found) return found;
        }
        return null;
    }

    private static (string Path, nint Handle)? TryFolder(string folder, string[] names, string? companion)
    {
        foreach (var name in names)
        {
            string path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            if (companion is not null && CompanionFile(folder, companion + name[name.IndexOf(".so", StringComparison.Ordinal)..]) is { } companionPath)
                NativeLibrary.TryLoad(companionPath, out _);
            if (NativeLibrary.TryLoad(path, out var handle)) return (path, handle);
        }
        return null;
    }

    /// <summary>The file in <paramref name="folder"/> named <paramref name="prefix"/> or prefix.*, the shortest name first (the soname link).</summary>
    internal static string? CompanionFile(string folder, string prefix) =>
        Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, prefix + "*")
                .Where(f => Path.GetFileName(f) == prefix || Path.GetFileName(f).StartsWith(prefix + ".", StringComparison.Ordinal))
                .OrderBy(f => f.Length).ThenBy(f => f, StringComparer.Ordinal).FirstOrDefault()
            : null;

    private static (string Path, nint Handle) LoadEmulator(CudaLibrarySearch search)
    {
        if (!string.IsNullOrEmpty(search.EmulatorPath))
        {
            if (!File.Exists(search.EmulatorPath))
                throw new CudaUnavailableException($"MEDCLIP_CUDA_EMULATOR names {search.EmulatorPath}, which does not exist: build tests/cuda-emulator with cmake or fix the path.");
            return (search.EmulatorPath, LoadOrExplain(search.EmulatorPath));
        }
        var candidates = new List<string> { Path.Combine(search.BaseDirectory, CudaLibrarySearch.EmulatorFileName) };
        for (var dir = new DirectoryInfo(search.BaseDirectory); dir is not null; dir = dir.Parent)
            candidates.Add(Path.Combine(dir.FullName, "tests", "cuda-emulator", "build", CudaLibrarySearch.EmulatorFileName));
        foreach (var path in candidates.Where(File.Exists))
            return (path, LoadOrExplain(path));
        throw new CudaUnavailableException($"MEDCLIP_CUDA=emulator but {CudaLibrarySearch.EmulatorFileName} was not found next to the application or in tests/cuda-emulator/build above it: build it with `cmake -S tests/cuda-emulator -B tests/cuda-emulator/build && cmake --build tests/cuda-emulator/build` or set MEDCLIP_CUDA_EMULATOR.");
    }

    private static nint LoadOrExplain(string path)
    {
        try
        {
            return NativeLibrary.Load(path);
        }
        catch (DllNotFoundException e)
        {
            throw new CudaUnavailableException($"The CUDA emulator {path} could not be loaded ({e.Message.Split('\n')[0]}): rebuild tests/cuda-emulator.");
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        var loaded = _loaded ?? EnsureLoaded();
        return name switch
        {
            CudaDriver.Library => loaded.DriverHandle,
            Nvrtc.Library => loaded.NvrtcHandle,
            Cublas.Library => loaded.CublasHandle,
            _ => 0,
        };
    }
}

/// <summary>The loaded libraries: where each came from and its handle (<paramref name="CompilerOnly"/>: NVRTC alone, no driver or cuBLAS).</summary>
public sealed record LoadedLibraries(string DriverPath, nint DriverHandle, string NvrtcPath, nint NvrtcHandle,
    string CublasPath, nint CublasHandle, bool IsEmulator, bool CompilerOnly = false);
