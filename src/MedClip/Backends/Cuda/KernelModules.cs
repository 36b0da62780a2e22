using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

/// <summary>
/// The loaded kernel files of one device: each kernels/*.cu is compiled (or read from the cache) and loaded the first
/// time one of its kernels is launched; function handles are looked up once and kept.
/// </summary>
public sealed class KernelModules : IDisposable
{
    private readonly CudaDevice _device;
    private readonly KernelCompiler _compiler;
    private readonly Dictionary<string, nint> _modules = [];
    private readonly Dictionary<(string File, string Name), nint> _functions = [];

    public KernelModules(CudaDevice device, KernelCompiler compiler)
    {
        _device = device;
        _compiler = compiler;
    }

    public KernelCompiler Compiler => _compiler;

    /// <summary>The kernel <paramref name="name"/> of kernels/<paramref name="file"/>.</summary>
    public nint Function(string file, string name)
    {
        if (_functions.TryGetValue((file, name), out var function)) return function;
        Check(cuModuleGetFunction(out function, Module(file), name), $"cuModuleGetFunction({file}: {name})");
        _functions[(file, name)] = function;
        return function;
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
