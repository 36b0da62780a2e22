namespace MedClip.Backends.Cuda.Native;

/// <summary>A failed CUDA driver, NVRTC or cuBLAS call: names the call, the error's name and its description.</summary>
public class CudaException : Exception
{
    public CudaException(string call, int code, string errorName, string description)
        : base($"{call} failed: {errorName} ({description}).")
    {
        Call = call;
        Code = code;
        ErrorName = errorName;
    }

    protected CudaException(string message) : base(message)
    {
        Call = "";
        ErrorName = "";
    }

    public string Call { get; }
    public int Code { get; }
    public string ErrorName { get; }
}

/// <summary>CUDA cannot be used here (no driver, no device, a library missing): the message is one sentence for the user.</summary>
public sealed class CudaUnavailableException(string message, bool noDriver = false) : Exception(message)
{
    /// <summary>No NVIDIA driver library at all: a machine without a GPU, where falling back to the CPU needs no notice.</summary>
    public bool NoDriver { get; } = noDriver;
}

/// <summary>A device allocation failed even after returning every cached block.</summary>
public sealed class CudaOutOfMemoryException(string message) : CudaException(message);

/// <summary>NVRTC rejected a kernel file: the message carries the file name and NVRTC's log.</summary>
public sealed class KernelCompileException(string message) : CudaException(message);
