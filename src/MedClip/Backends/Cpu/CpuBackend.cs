using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>
/// The managed reference backend. Each op writes its kernel call once, in a small struct op generic over the element
/// type, and one dispatch picks the type (double for F64, else float): the kernels are generic over float and double,
/// so the same code serves training (F32) and gradient checks (F64). BF16 is a storage format here (cast it to F32 to
/// compute), except as GEMM operands: bf16 mixed precision is emulated by an F32 GEMM of the exactly widened BF16 values.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    public static CpuBackend Instance { get; } = new(CpuGemmPaths.Host);

    private readonly CpuGemm _gemm;

    /// <param name="gemmPath">The GEMM's vector width (<see cref="CpuGemmPaths.Host"/>: the widest this CPU accelerates).</param>
    public CpuBackend(CpuGemmPath gemmPath) => _gemm = new CpuGemm(gemmPath);

    /// <summary>The vector width the GEMMs run at; every width gives the same bits.</summary>
    public CpuGemmPath GemmPath => _gemm.Path;

    public string Name => "cpu";

    /// <summary>The managed attention takes any head dimension.</summary>
    public IReadOnlyList<int>? FusedAttentionHeadDims => null;

    /// <summary>Large arrays allocated in the scope go back to the buffer pool when it ends (see <see cref="CpuBufferPool"/>).</summary>
    public IDisposable OpenScope() => _pool.OpenScope();

    private readonly CpuBufferPool _pool = new();

    public Storage Allocate(DType dtype, long length) => Allocate(dtype, length, this);

    public Storage AllocateUninitialized(DType dtype, long length) => Allocate(dtype, length, this, zeroed: false);

    /// <summary>
    /// A buffer whose tensors dispatch their ops to <paramref name="owner"/> (this backend or a decorator of it), zero-filled
    /// unless the caller overwrites every element (<paramref name="zeroed"/> false).
    /// </summary>
    public Storage Allocate(DType dtype, long length, IBackend owner, bool zeroed = true) => dtype switch
    {
        DType.F32 => Tracked(new CpuStorage<float>(owner, _pool.Rent<float>(length, zeroed))),
        DType.F64 => Tracked(new CpuStorage<double>(owner, _pool.Rent<double>(length, zeroed))),
        DType.BF16 => Tracked(new CpuStorage<ushort>(owner, _pool.Rent<ushort>(length, zeroed))),
        DType.I32 => Tracked(new CpuStorage<int>(owner, _pool.Rent<int>(length, zeroed))),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    private CpuStorage<T> Tracked<T>(CpuStorage<T> storage) where T : unmanaged
    {
        _pool.Track(storage);
        return storage;
    }

    public void CopyFromHost<T>(ReadOnlySpan<T> source, Storage destination) where T : unmanaged =>
        source.CopyTo(Array<T>(destination));

    public void CopyToHost<T>(Storage source, Span<T> destination) where T : unmanaged =>
        Array<T>(source).AsSpan(0, destination.Length).CopyTo(destination);

    public void Fill(Tensor x, double value)
    {
        switch (x.DType)
        {
            case DType.F32: D<float>(x).AsSpan(0, (int)x.Length).Fill((float)value); break;
            case DType.F64: D<double>(x).AsSpan(0, (int)x.Length).Fill(value); break;
            case DType.BF16: D<ushort>(x).AsSpan(0, (int)x.Length).Fill(BFloat16.FromSingle((float)value)); break;
            case DType.I32: D<int>(x).AsSpan(0, (int)x.Length).Fill(checked((int)value)); break;
        }
    }

    public void Cast(Tensor source, Tensor destination)
    {
        SameLength(source, destination);
        int n = (int)source.Length;
        // The rounding step of every bf16 GEMM operand in CPU-emulated mixed precision, and its way back: one parallel pass.
        if (source.DType == DType.F32 && destination.DType == DType.BF16)
        {
            RoundInto(D<float>(source), destination);
            return;
        }
        if (source.DType == DType.BF16 && destination.DType == DType.F32)
        {
            WidenInto(D<ushort>(source), D<float>(destination));
            return;
        }
        var wide = new double[n];
        switch (source.DType)
        {
            case DType.F32: for (int i = 0; i < n; i++) wide[i] = D<float>(source)[i]; break;
            case DType.F64: D<double>(source).AsSpan(0, n).CopyTo(wide); break;
            case DType.BF16: for (int i = 0; i < n; i++) wide[i] = BFloat16.ToSingle(D<ushort>(source)[i]); break;
            default: throw new NotSupportedException($"Cast: cannot cast {source.Describe()} to {destination.DType}.");
        }
        switch (destination.DType)
        {
            case DType.F32: for (int i = 0; i < n; i++) D<float>(destination)[i] = (float)wide[i]; break;
            case DType.F64: wide.CopyTo(D<double>(destination), 0); break;
            case DType.BF16: for (int i = 0; i < n; i++) D<ushort>(destination)[i] = BFloat16.FromSingle((float)wide[i]); break;
            default: throw new NotSupportedException($"Cast: cannot cast {source.Describe()} to {destination.DType}.");
        }
    }

    // bf16 mixed precision's BF16 values: rounded to nearest even from F32 (outputs computed in F32 as the CUDA kernels
    // compute them), and widened back to F32 for arithmetic, each in one parallel pass.
    private static void RoundInto(float[] wide, Tensor y)
    {
        var rounded = D<ushort>(y);
        CpuParallel.ForElements(wide.Length, (s, e) =>
        {
            for (int i = s; i < e; i++) rounded[i] = BFloat16.FromSingle(wide[i]);
        });
    }

    private static void WidenInto(ushort[] rounded, float[] wide) =>
        CpuParallel.ForElements(wide.Length, (s, e) =>
        {
            for (int i = s; i < e; i++) wide[i] = BFloat16.ToSingle(rounded[i]);
        });

    // An F32 tensor's values, or a BF16 one's widened to F32, exactly (a bf16 is the top half of a float): bf16 mixed
    // precision's BF16 activations and GEMM operands.
    private static float[] Widened(Tensor t)
    {
        if (t.DType != DType.BF16) return D<float>(t);
        var wide = new float[t.Length];
        WidenInto(D<ushort>(t), wide);
        return wide;
    }

    // ---- the element type ------------------------------------------------------------------------------------------

    /// <summary>An op written once over its element type T; Dispatch picks T.</summary>
    private interface ITypedOp
    {
        void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T>;
    }

    // The one place an op's element type is chosen, from the tensor that leads it: double for F64, else float (BF16 and
    // I32 operands then fail in Operands, naming the op). A struct op is specialised per T and allocates nothing.
    private static void Dispatch<TOp>(Tensor lead, TOp op, [CallerMemberName] string name = "") where TOp : struct, ITypedOp
    {
        if (lead.DType == DType.F64) op.Run(new Operands<double>(name));
        else op.Run(new Operands<float>(name));
    }

    /// <summary>The arrays behind an op's tensors at its element type, checked as they are read (errors name the op).</summary>
    private readonly struct Operands<T>(string op) where T : unmanaged
    {
        public T[] this[Tensor t] => D<T>(t, op);

        public T[]? Optional(Tensor? t) => t is null ? null : D<T>(t, op);
    }

    // The array behind a tensor, checked to hold T (a mixed-dtype call names the op and the tensor).
    private static T[] D<T>(Tensor t, [CallerMemberName] string op = "") where T : unmanaged =>
        t.Storage is CpuStorage<T> s
            ? s.Data
            : throw new ArgumentException(t.Storage is CpuStorage<ushort>
                ? $"{op}: {t.Describe()} is BF16 storage; the CPU backend computes in F32 or F64, so cast it first."
                : $"{op}: {t.Describe()} on {t.Backend.Name} is not {Tensor.HostDType<T>()} on the CPU as the op's other operands are.");

    private static T[]? Optional<T>(Tensor? t, [CallerMemberName] string op = "") where T : unmanaged => t is null ? null : D<T>(t, op);

    private static T[] Array<T>(Storage s) where T : unmanaged =>
        s is CpuStorage<T> cpu ? cpu.Data : throw new ArgumentException($"Storage holds {s.DType} on {s.Backend.Name}, not {typeof(T).Name} on the CPU.");

    private static void SameLength(Tensor a, Tensor b, [CallerMemberName] string op = "")
    {
        if (a.Length != b.Length)
            throw new ArgumentException($"{op}: {a.Describe()} and {b.Describe()} differ in size.");
    }

}
