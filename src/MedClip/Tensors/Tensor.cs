using MedClip.Autograd;
using MedClip.Backends;

namespace MedClip.Tensors;

/// <summary>
/// A contiguous, row-major n-dimensional array on one backend, with the autograd fields of the tape:
/// a tensor produced by a recorded op has <see cref="GradFn"/>; a parameter is a leaf with <see cref="RequiresGrad"/>.
/// </summary>
public sealed class Tensor
{
    public Tensor(Storage storage, Shape shape)
    {
        if (shape.Elements > storage.Length)
            throw new ArgumentException($"Shape {shape} needs {shape.Elements} elements but the storage holds {storage.Length}.");
        Storage = storage;
        Shape = shape;
        Slot = new GradSlot(storage.Backend, shape, storage.DType);
    }

    public Storage Storage { get; }
    public Shape Shape { get; }
    public DType DType => Storage.DType;
    public IBackend Backend => Storage.Backend;
    public long Length => Shape.Elements;
    public int Rank => Shape.Rank;

    /// <summary>Name used in checkpoints and error messages (HF parameter name for parameters).</summary>
    public string? Name { get; set; }

    /// <summary>The tape's state of this tensor (gradient, producing op), which nodes hold instead of the tensor.</summary>
    public GradSlot Slot { get; }

    /// <summary>True for leaves that want a gradient (parameters) and for results of ops on them.</summary>
    public bool RequiresGrad { get => Slot.RequiresGrad; set => Slot.RequiresGrad = value; }

    /// <summary>Accumulated gradient (same shape); backward adds into it, so it is cleared by the optimizer step.</summary>
    public Tensor? Grad { get => Slot.Grad; set => Slot.Grad = value; }

    /// <summary>
    /// bf16 mixed precision: this parameter's values rounded to BF16, its GEMM operand (<see cref="Bf16Operand"/>).
    /// Whoever writes the parameter keeps it current: the optimizer's update writes both, and loading weights refreshes it.
    /// </summary>
    public Tensor? Bf16Copy { get; set; }

    // An op's output (Tape.Record marks it): written by its op and never again, so a cast of it stays current.
    internal bool IsOpOutput { get; set; }

    private Tensor? _bf16Cast;

    /// <summary>
    /// The BF16 GEMM operand standing for this tensor (bf16 mixed precision): the tensor itself when BF16, a parameter's
    /// <see cref="Bf16Copy"/>, or its values rounded to nearest even. An op's output keeps its cast, so however many GEMMs
    /// read an activation (the query, key and value projections of one input) it is cast once, torch.autocast's cast
    /// cache; any other tensor (a leaf, a gradient) may still be written, so it is cast afresh on every call.
    /// </summary>
    public Tensor Bf16Operand()
    {
        if (DType == DType.BF16) return this;
        if (Bf16Copy is { } copy) return copy;
        if (_bf16Cast is { } cast) return cast;
        var rounded = Zeros(Backend, Shape, DType.BF16);
        Backend.Cast(this, rounded);
        if (IsOpOutput) _bf16Cast = rounded;
        return rounded;
    }

    /// <summary>The recorded op that produced this tensor, or null for a leaf.</summary>
    public Node? GradFn { get => Slot.GradFn; internal set => Slot.GradFn = value; }

    public static Tensor Zeros(IBackend backend, Shape shape, DType dtype = DType.F32) =>
        new(backend.Allocate(dtype, shape.Elements), shape);

    /// <summary>
    /// A tensor whose contents are undefined, for an op that overwrites every element (the backend may hand out reused
    /// memory without clearing it).
    /// </summary>
    public static Tensor Empty(IBackend backend, Shape shape, DType dtype = DType.F32) =>
        new(backend.AllocateUninitialized(dtype, shape.Elements), shape);

    public static Tensor FromArray<T>(IBackend backend, Shape shape, T[] data) where T : unmanaged
    {
        if (data.LongLength != shape.Elements)
            throw new ArgumentException($"Shape {shape} needs {shape.Elements} elements but {data.Length} were given.");
        var t = Zeros(backend, shape, HostDType<T>());
        backend.CopyFromHost<T>(data, t.Storage);
        return t;
    }

    public static Tensor Scalar(IBackend backend, double value, DType dtype = DType.F32)
    {
        var t = Zeros(backend, new Shape(), dtype);
        backend.Fill(t, value);
        return t;
    }

    public T[] ToArray<T>() where T : unmanaged
    {
        if (HostDType<T>() != DType)
            throw new InvalidOperationException($"Tensor {Describe()} holds {DType}, not {typeof(T).Name}.");
        var result = new T[Length];
        Backend.CopyToHost<T>(Storage, result);
        return result;
    }

    /// <summary>The value of a one-element tensor, converted to double.</summary>
    public double Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item() needs one element but {Describe()} has {Length}.");
        return DType switch
        {
            DType.F32 => ToArray<float>()[0],
            DType.F64 => ToArray<double>()[0],
            DType.I32 => ToArray<int>()[0],
            _ => BFloat16.ToSingle(ToArray<ushort>()[0]),
        };
    }

    /// <summary>A tensor of another shape over the same storage (no copy, no gradient link: use Ops.Reshape on the tape).</summary>
    public Tensor View(Shape shape)
    {
        if (shape.Elements != Length)
            throw new ArgumentException($"Cannot view {Describe()} with {Length} elements as {shape}.");
        return new Tensor(Storage, shape);
    }

    /// <inheritdoc cref="GradSlot.GradOrZeros"/>
    public Tensor GradOrZeros() => Slot.GradOrZeros();

    public string Describe() => Name is null ? $"{DType}{Shape}" : $"'{Name}' {DType}{Shape}";
    public override string ToString() => $"Tensor {Describe()} on {Backend.Name}";

    public static DType HostDType<T>() where T : unmanaged =>
        typeof(T) == typeof(float) ? DType.F32
        : typeof(T) == typeof(double) ? DType.F64
        : typeof(T) == typeof(int) ? DType.I32
        : typeof(T) == typeof(ushort) ? DType.BF16
        : throw new NotSupportedException($"No tensor dtype stores {typeof(T).Name}.");
}
