using System.Runtime.CompilerServices;

namespace MedClip.Backends.Cuda;

/// <summary>
/// One launch's kernel (its file and name) and its arguments, as a typed handle of <see cref="Kernels"/> packs them.
/// The handle's parameters are the kernel's, checked against the declaration by KernelHandleTests, so the arguments
/// here are right in number and type.
/// </summary>
internal readonly struct KernelCall
{
    /// <summary>The most parameters a kernel may declare (permute's 16).</summary>
    public const int MaxArguments = 16;

    private readonly Slots _arguments;

    public KernelCall(string file, string kernel, params ReadOnlySpan<KernelArg> arguments)
    {
        if (arguments.Length > MaxArguments)
            throw new ArgumentException($"Kernel {kernel} in {file} takes {arguments.Length} arguments; a launch holds at most {MaxArguments}.");
        File = file;
        Kernel = kernel;
        Count = arguments.Length;
        arguments.CopyTo(_arguments);
    }

    /// <summary>The kernel file under kernels/, e.g. "layernorm.cu".</summary>
    public string File { get; }

    /// <summary>The kernel's name as declared, e.g. "layernorm_forward_f32".</summary>
    public string Kernel { get; }

    public int Count { get; }

    /// <summary>Copies the <see cref="Count"/> arguments to the start of <paramref name="destination"/>.</summary>
    public void CopyArguments(Span<KernelArg> destination) => ((ReadOnlySpan<KernelArg>)_arguments)[..Count].CopyTo(destination);

    [InlineArray(MaxArguments)]
    private struct Slots
    {
        private KernelArg _first;
    }
}
