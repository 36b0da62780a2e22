using System.Text.RegularExpressions;
using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

/// <summary>
/// The loaded kernel files of one device: each kernels/*.cu is compiled (or read from the cache) and loaded the first
/// time one of its kernels is launched; function handles are looked up once and kept, with the parameter count read
/// from the kernel's declaration, so a launch with the wrong number of arguments fails loudly instead of letting the
/// kernel read past them.
/// </summary>
public sealed class KernelModules : IDisposable
{
    private readonly CudaDevice _device;
    private readonly KernelCompiler _compiler;
    private readonly Dictionary<string, nint> _modules = [];
    private readonly Dictionary<(string File, string Name), (nint Function, int Parameters)> _functions = [];

    public KernelModules(CudaDevice device, KernelCompiler compiler)
    {
        _device = device;
        _compiler = compiler;
    }

    public KernelCompiler Compiler => _compiler;

    /// <summary>The kernel <paramref name="name"/> of kernels/<paramref name="file"/> and how many parameters it declares.</summary>
    public (nint Function, int Parameters) Function(string file, string name)
    {
        if (_functions.TryGetValue((file, name), out var kernel)) return kernel;
        Check(cuModuleGetFunction(out nint function, Module(file), name), $"cuModuleGetFunction({file}: {name})");
        kernel = (function, ParameterCount(KernelCompiler.KernelSource(file), file, name));
        _functions[(file, name)] = kernel;
        return kernel;
    }

    /// <summary>Counts the parameters of `extern "C" __global__ void name(...)` in a kernel file's source.</summary>
    public static int ParameterCount(string source, string file, string name)
    {
        var match = Regex.Match(source, $@"extern\s+""C""\s+__global__\s+void\s+{Regex.Escape(name)}\s*\(([^)]*)\)");
        if (!match.Success) throw new InvalidOperationException($"Kernel {name} is not declared in {file}.");
        string parameters = match.Groups[1].Value.Trim();
        return parameters.Length == 0 || parameters == "void" ? 0 : parameters.Count(c => c == ',') + 1;
    }

    private unsafe nint Module(string file)
    {
        if (_modules.TryGetValue(file, out var module)) return module;
        var cubin = _compiler.GetCubin(file);
        _device.MakeCurrent();
        fixed (byte* image = cubin) Check(cuModuleLoadData(out module, image), $"cuModuleLoadData({file})");
        _modules[file] = module;
        return module;
    }

    public void Dispose()
    {
        foreach (var module in _modules.Values) cuModuleUnload(module);
        _modules.Clear();
        _functions.Clear();
    }
}
