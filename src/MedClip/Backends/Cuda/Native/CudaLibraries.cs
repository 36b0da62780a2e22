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

    /// <summary>/usr/local/cuda's library folders, then the nvidia/*/lib folders of Python site-packages.</summary>
    public static IReadOnlyList<string> DefaultFolders()
    {
        var folders = new List<string> { "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib" };
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string[] pythonRoots = ["/usr/lib", "/usr/local/lib", Path.Combine(home, ".local/lib")];
        foreach (var root in pythonRoots.Where(Directory.Exists))
        {
            foreach (var python in Directory.EnumerateDirectories(root, "python3*").Order())
            {
                foreach (var packages in new[] { "site-packages", "dist-packages" })
                {
                    string nvidia = Path.Combine(python, packages, "nvidia");
                    if (!Directory.Exists(nvidia)) continue;
                    foreach (var package in Directory.EnumerateDirectories(nvidia).Order())
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
            var nvrtc = Load(search, ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2"], null)
                ?? throw new CudaUnavailableException("No NVRTC found (libnvrtc.so.13, .12 or .11.2): install the CUDA toolkit, pip nvidia-cuda-nvrtc or Debian's libnvrtc11.2 (non-free), or set MEDCLIP_CUDA_LIB_PATH to its lib folder.");
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
        var nvrtc = Load(search, ["libnvrtc.so.13", "libnvrtc.so.12"], null)
            ?? throw new CudaUnavailableException("No NVRTC found (libnvrtc.so.13 or .12): install the CUDA toolkit (or pip nvidia-cuda-nvrtc), set MEDCLIP_CUDA_LIB_PATH to its lib folder, or use --device cpu.");
        var cublas = Load(search, ["libcublas.so.13", "libcublas.so.12"], "libcublasLt")
            ?? throw new CudaUnavailableException("No cuBLAS found (libcublas.so.13 or .12): install the CUDA toolkit (or pip nvidia-cublas), set MEDCLIP_CUDA_LIB_PATH to its lib folder, or use --device cpu.");
        return new LoadedLibraries(cuda.Path, cuda.Handle, nvrtc.Path, nvrtc.Handle, cublas.Path, cublas.Handle, IsEmulator: false);
    }

    // MEDCLIP_CUDA_LIB_PATH folders, then the loader by bare name, then the fixed folders; for each folder the names are
    // tried in order (newest major version first). A companion (cublasLt) in the same folder is loaded first so the
    // library's own dependency resolves to it.
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
            if (companion is not null)
            {
                string companionPath = Path.Combine(folder, companion + name[name.IndexOf(".so", StringComparison.Ordinal)..]);
                if (File.Exists(companionPath)) NativeLibrary.TryLoad(companionPath, out _);
            }
            if (NativeLibrary.TryLoad(path, out var handle)) return (path, handle);
        }
        return null;
    }

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
