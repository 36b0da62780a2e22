using System.Buffers;
using System.Numerics;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using MedClip.Tensors;

namespace MedClip.Backends.Cpu;

// CpuBackend's activations, alone and fused with the bias add before them.
public sealed partial class CpuBackend
{
    public void ActivationForward(Activation kind, Tensor x, Tensor y)
    {
        SameLength(x, y);
        Dispatch(x, new ActivationForwardOp(kind, x, y));
    }

    private readonly struct ActivationForwardOp(Activation kind, Tensor x, Tensor y) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuActivations<T>.Forward(kind, of[x], of[y], x.Length);
    }

    public void ActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx)
    {
        SameLength(x, dy);
        SameLength(x, dx);
        Dispatch(x, new ActivationBackwardOp(kind, x, dy, dx));
    }

    private readonly struct ActivationBackwardOp(Activation kind, Tensor x, Tensor dy, Tensor dx) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> => CpuActivations<T>.Backward(kind, of[x], of[dy], of[dx], x.Length);
    }

    public void BiasActivationForward(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols, Tensor? pre = null)
    {
        SameLength(x, y);
        if (pre is null) Dispatch(x, new BiasActivationForwardOp(kind, x, bias, y, rows, cols));
        else Bf16HiddenForward(kind, x, bias, pre, y, rows, cols);
    }

    private readonly struct BiasActivationForwardOp(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuActivations<T>.BiasForward(kind, of[x], of[bias], of[y], rows, cols);
    }

    public void BiasActivationBackward(Activation kind, Tensor kept, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        SameLength(kept, dy);
        SameLength(kept, dx);
        if (kept.DType == DType.BF16) Bf16HiddenBackward(kind, kept, dy, dx, dBias, rows, cols);
        else Dispatch(kept, new BiasActivationBackwardOp(kept, dy, dx, dBias, rows, cols));
    }

    private readonly struct BiasActivationBackwardOp(Tensor derivative, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols) : ITypedOp
    {
        public void Run<T>(Operands<T> of) where T : unmanaged, IFloatingPointIeee754<T> =>
            CpuActivations<T>.BiasBackwardFromDerivative(of[derivative], of[dy], of[dx], of[dBias], rows, cols);
    }

    // bf16's hidden layer: pre = bf16(x + bias), y = bf16(f(pre)), x only read.
    private static void Bf16HiddenForward(Activation kind, Tensor x, Tensor bias, Tensor pre, Tensor y, int rows, int cols)
    {
        // In F32 through the unfused CPU ops, rounding where the CUDA kernel rounds: pre after the bias add, y after f.
        long n = (long)rows * cols;
        var hidden = new float[n];
        System.Array.Copy(D<float>(x), hidden, n);
        CpuElementwise<float>.AddBias(hidden, D<float>(bias), rows, cols);
        RoundInto(hidden, pre);
        WidenInto(D<ushort>(pre), hidden);
        var output = new float[n];
        CpuActivations<float>.Forward(kind, hidden, output, n);
        RoundInto(output, y);
    }

    // bf16's hidden layer: g = dy f'(pre) in F32, dx = bf16(g), dBias += column sums of g.
    private static void Bf16HiddenBackward(Activation kind, Tensor pre, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols)
    {
        var g = new float[(long)rows * cols];
        CpuActivations<float>.BiasBackward(kind, Widened(pre), D<float>(dy), g, D<float>(dBias), rows, cols);
        RoundInto(g, dx);
    }
}

/// <summary>
/// Pointwise activations: one small struct per function (value and derivative side by side) and one shared loop
/// that splits the tensor over the cores. Tanh, quick GELU and tanh GELU run vectorised through TensorPrimitives;
/// erf GELU has its own vectorised float kernel and is exact (erf per element) in double. The fused bias + activation
/// runs the same loop with the bias added to each cache-sized piece just before the function reads it, and keeps f'
/// of the piece in place of the pre-activation, so the fused backward only multiplies (and sums the bias gradient from
/// each piece while it is in cache). Both run on the same spans as the unfused ops, so every element is computed
/// exactly as bias add, activation and activation backward compute it.
/// </summary>
internal static class CpuActivations<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(Activation kind, T[] x, T[] y, long length) => Run(kind, new(x, null, y, null, length, 0), backward: false);

    /// <summary>dx += dy * f'(x).</summary>
    public static void Backward(Activation kind, T[] x, T[] dy, T[] dx, long length) => Run(kind, new(x, dy, dx, null, length, 0), backward: true);

    /// <summary>With p[r, c] = x[r, c] + bias[c]: y = f(p) and x = f'(p), all that the backward needs.</summary>
    public static void BiasForward(Activation kind, T[] x, T[] bias, T[] y, int rows, int cols) =>
        Run(kind, new(x, null, y, bias, (long)rows * cols, cols), backward: false);

    /// <summary>g = dy * f'(x); dx += g; dBias[c] += sum over rows of g.</summary>
    public static void BiasBackward(Activation kind, T[] x, T[] dy, T[] dx, T[] dBias, int rows, int cols) =>
        Run(kind, new(x, dy, dx, dBias, (long)rows * cols, cols), backward: true);

    /// <summary>g = dy * derivative, the f' kept by <see cref="BiasForward"/>; dx += g; dBias[c] += sum over rows of g.</summary>
    public static void BiasBackwardFromDerivative(T[] derivative, T[] dy, T[] dx, T[] dBias, int rows, int cols) =>
        Backward(new(derivative, dy, dx, dBias, (long)rows * cols, cols), derivativeOf: null);

    // One call's operands: forward y = f(x (+ bias)) into Output, backward dx += dy * f'(x) into Output; Bias is the bias
    // forward and its gradient backward, per column of rows of Cols elements (absent in the unfused ops).
    private readonly record struct Operands(T[] X, T[]? Dy, T[] Output, T[]? Bias, long Length, int Cols);

    private static void Run(Activation kind, Operands o, bool backward)
    {
        switch (kind)
        {
            case Activation.GeluErf: Run<GeluErf>(o, backward); break;
            case Activation.GeluTanh: Run<GeluTanh>(o, backward); break;
            case Activation.QuickGelu: Run<QuickGelu>(o, backward); break;
            case Activation.Tanh: Run<TanhOp>(o, backward); break;
            case Activation.Relu: Run<Relu>(o, backward); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    private static void Run<TOp>(Operands o, bool backward) where TOp : IActivation<TOp>
    {
        if (backward)
        {
            Backward(o, static (x, d) => TOp.Derivative(x, d));
            return;
        }
        CpuParallel.ForElements(o.Length, (start, end) => ForPieces(start, end, (s, e) =>
        {
            var x = o.X.AsSpan(s, e - s);
            var y = o.Output.AsSpan(s, e - s);
            if (o.Bias is not { } bias)
            {
                TOp.Forward(x, y);
                return;
            }
            ForRowRuns(s, e, o.Cols, (at, column, n) => TensorPrimitives.Add(o.X.AsSpan(at, n), bias.AsSpan(column, n), o.X.AsSpan(at, n)));
            TOp.ForwardKeepingDerivative(x, y);
        }));
    }

    // dx += dy * d and dBias += column sums of dy * d, with d each piece's derivative: derivativeOf(X) computed into a
    // scratch piece, or X itself where derivativeOf is null (X holds f' already). The bias gradient goes through
    // per-task partial sums, added in task order (deterministic).
    private static void Backward(Operands o, DerivativeOf? derivativeOf)
    {
        CpuParallel.ReduceElements<T>(o.Length, o.Cols, o.Bias is null ? [] : [o.Bias], (start, end, partials) =>
        {
            var scratch = derivativeOf is null ? null : ArrayPool<T>.Shared.Rent(Math.Min(end - start, 2 * Piece));
            ForPieces(start, end, (s, e) =>
            {
                // d[first + i] is the derivative of element s + i.
                var (d, first) = (o.X, s);
                if (derivativeOf is not null)
                {
                    derivativeOf(o.X.AsSpan(s, e - s), scratch.AsSpan(0, e - s));
                    (d, first) = (scratch!, 0);
                }
                var outs = o.Output.AsSpan(s, e - s);
                TensorPrimitives.MultiplyAdd<T>(o.Dy.AsSpan(s, e - s), d.AsSpan(first, e - s), outs, outs);
                if (partials.Length == 0) return;
                var dBias = partials[0];
                ForRowRuns(s, e, o.Cols, (at, column, n) =>
                    TensorPrimitives.MultiplyAdd<T>(o.Dy.AsSpan(at, n), d.AsSpan(first + at - s, n), dBias.AsSpan(column, n), dBias.AsSpan(column, n)));
            });
            if (scratch is not null) ArrayPool<T>.Shared.Return(scratch);
        });
    }

    private delegate void DerivativeOf(ReadOnlySpan<T> x, Span<T> d);

    // Each task's span is worked in pieces that stay in cache between the bias add and the function (or, backward, the
    // derivative and its two uses). A piece is Piece to 2*Piece - 1 elements, or the whole span when that is shorter, so
    // no piece is shorter than a vector unless the span is: TensorPrimitives then computes each element as one call over
    // the span would (only spans shorter than a vector take its scalar code, to other roundings), and the fused op
    // matches the unfused ones bit for bit.
    private const int Piece = 4096;

    private static void ForPieces(int start, int end, Action<int, int> body)
    {
        for (int s = start; s < end;)
        {
            int e = end - s < 2 * Piece ? end : s + Piece;
            body(s, e);
            s = e;
        }
    }

    // Calls body(at, column, n) for the runs of the flat range [start, end) that stay within one row of cols elements:
    // elements at..at+n are columns column..column+n.
    private static void ForRowRuns(int start, int end, int cols, Action<int, int, int> body)
    {
        for (int at = start; at < end;)
        {
            int column = at % cols, n = Math.Min(cols - column, end - at);
            body(at, column, n);
            at += n;
        }
    }

    // Derivative may write over its own x (dydx the same span): every element is read before it is written.
    private interface IActivation<TSelf> where TSelf : IActivation<TSelf>
    {
        static abstract void Forward(ReadOnlySpan<T> x, Span<T> y);
        static abstract void Derivative(ReadOnlySpan<T> x, Span<T> dydx);

        /// <summary>y = f(x), then x = f'(x).</summary>
        static virtual void ForwardKeepingDerivative(Span<T> x, Span<T> y)
        {
            TSelf.Forward(x, y);
            TSelf.Derivative(x, x);
        }
    }

    private static T C(double v) => T.CreateChecked(v);

    // 0.5 x (1 + erf(x/sqrt2)) = x Phi(x); d/dx = Phi(x) + x phi(x), with Phi and phi the normal CDF and density.
    // Double (the gradient checks) evaluates erf exactly. Float runs eight at a time: the tail Phi(-|x|) =
    // exp(-x^2/2) erfcx(|x|/sqrt2) / 2 comes from Erf.ScaledComplement, and Phi(x) is 1 - tail for x >= 0 and the tail
    // itself below, so no 1 + erf cancels: relative error 1e-7 on average and below 6e-7 (5 ulp) for every x.
    private readonly struct GeluErf : IActivation<GeluErf>
    {
        public static void Forward(ReadOnlySpan<T> x, Span<T> y)
        {
            if (typeof(T) == typeof(float))
            {
                MapFloat<GeluValue>(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
                return;
            }
            for (int i = 0; i < x.Length; i++) y[i] = C(0.5) * x[i] * (T.One + C(Erf.Evaluate(double.CreateChecked(x[i]) * Math.Sqrt(0.5))));
        }

        // Phi and phi once for both: the float value and derivative are those of Forward and Derivative, bit for bit.
        public static void ForwardKeepingDerivative(Span<T> x, Span<T> y)
        {
            if (typeof(T) != typeof(float))
            {
                Forward(x, y);
                Derivative(x, x);
                return;
            }
            var xf = MemoryMarshal.Cast<T, float>(x);
            var yf = MemoryMarshal.Cast<T, float>(y);
            int i = 0, width = Vector256<float>.Count;
            for (; i + width <= xf.Length; i += width)
            {
                var v = Vector256.Create<float>(xf.Slice(i, width));
                var (cdf, density) = Normal(v);
                (v * cdf).CopyTo(yf.Slice(i, width));
                Vector256.FusedMultiplyAdd(v, density, cdf).CopyTo(xf.Slice(i, width));
            }
            if (i == xf.Length) return;
            Forward(x[i..], y[i..]);
            Derivative(x[i..], x[i..]);
        }

        public static void Derivative(ReadOnlySpan<T> x, Span<T> d)
        {
            if (typeof(T) == typeof(float))
            {
                MapFloat<GeluDerivative>(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(d));
                return;
            }
            for (int i = 0; i < x.Length; i++)
            {
                double v = double.CreateChecked(x[i]);
                d[i] = C(0.5 * (1 + Erf.Evaluate(v * Math.Sqrt(0.5))) + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI));
            }
        }

        private static (Vector256<float> Cdf, Vector256<float> Density) Normal(Vector256<float> x)
        {
            // |x| capped at 20, where phi and the tail are already 0 in float, so that x^2 stays finite.
            var a = Vector256.Min(Vector256.Abs(x), Vector256.Create(20f));
            // g = exp(-x^2/2) from the rounded square s and its rounding error r: exp(-(s + r)/2) = exp(-s/2)(1 - r/2),
            // so the tail keeps its relative accuracy where x^2 is large.
            var square = a * a;
            var residual = Vector256.FusedMultiplyAdd(a, a, -square);
            var e = Vector256.Exp(square * -0.5f);
            var g = Vector256.FusedMultiplyAdd(e, residual * -0.5f, e);
            var tail = g * Erf.ScaledComplement(a * (float)Math.Sqrt(0.5)) * 0.5f;
            var cdf = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(x, Vector256<float>.Zero), Vector256<float>.One - tail, tail);
            return (cdf, g * (float)(1 / Math.Sqrt(2 * Math.PI)));
        }

        private readonly struct GeluValue : IVectorFunction
        {
            public static Vector256<float> Apply(Vector256<float> x) => x * Normal(x).Cdf;
        }

        private readonly struct GeluDerivative : IVectorFunction
        {
            public static Vector256<float> Apply(Vector256<float> x)
            {
                var (cdf, density) = Normal(x);
                return Vector256.FusedMultiplyAdd(x, density, cdf);
            }
        }
    }

    private interface IVectorFunction
    {
        static abstract Vector256<float> Apply(Vector256<float> x);
    }

    // y = f(x) over float spans, eight at a time; a ragged end goes through a zero-padded vector.
    private static void MapFloat<TF>(ReadOnlySpan<float> x, Span<float> y) where TF : IVectorFunction
    {
        int i = 0;
        for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count)
            TF.Apply(Vector256.Create(x.Slice(i, Vector256<float>.Count))).CopyTo(y.Slice(i, Vector256<float>.Count));
        if (i == x.Length) return;
        Span<float> tail = stackalloc float[Vector256<float>.Count];
        tail.Clear();
        x[i..].CopyTo(tail);
        TF.Apply(Vector256.Create<float>(tail)).CopyTo(tail);
        tail[..(x.Length - i)].CopyTo(y[i..]);
    }

    // 0.5 x (1 + tanh(u)), u = sqrt(2/pi)(x + 0.044715 x^3);
    // d/dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi)(1 + 3*0.044715 x^2)
    private readonly struct GeluTanh : IActivation<GeluTanh>
    {
        private static readonly T K = C(Math.Sqrt(2 / Math.PI));
        private static readonly T A = C(0.044715);

        private static void TanhOfInner(ReadOnlySpan<T> x, Span<T> t)
        {
            TensorPrimitives.Multiply(x, x, t);                 // x^2
            TensorPrimitives.Multiply(t, A, t);
            TensorPrimitives.Add(t, T.One, t);                   // 1 + a x^2
            TensorPrimitives.Multiply(t, x, t);                  // x + a x^3
            TensorPrimitives.Multiply(t, K, t);
            TensorPrimitives.Tanh<T>(t, t);
        }

        public static void Forward(ReadOnlySpan<T> x, Span<T> y)
        {
            TanhOfInner(x, y);
            TensorPrimitives.Add(y, T.One, y);
            TensorPrimitives.Multiply(y, x, y);
            TensorPrimitives.Multiply(y, C(0.5), y);
        }

        public static void Derivative(ReadOnlySpan<T> x, Span<T> d)
        {
            var rented = ArrayPool<T>.Shared.Rent(x.Length);
            var t = rented.AsSpan(0, x.Length);
            TanhOfInner(x, t);
            for (int i = 0; i < x.Length; i++)
            {
                T inner = K * (T.One + C(3) * A * x[i] * x[i]);
                d[i] = C(0.5) * (T.One + t[i]) + C(0.5) * x[i] * (T.One - t[i] * t[i]) * inner;
            }
            ArrayPool<T>.Shared.Return(rented);
        }
    }

    // x * sigmoid(1.702 x); d/dx = s + 1.702 x s (1 - s)
    private readonly struct QuickGelu : IActivation<QuickGelu>
    {
        private static readonly T K = C(1.702);

        public static void Forward(ReadOnlySpan<T> x, Span<T> y)
        {
            TensorPrimitives.Multiply(x, K, y);
            TensorPrimitives.Sigmoid<T>(y, y);
            TensorPrimitives.Multiply(y, x, y);
        }

        public static void Derivative(ReadOnlySpan<T> x, Span<T> d)
        {
            var s = ArrayPool<T>.Shared.Rent(x.Length);
            var sigmoid = s.AsSpan(0, x.Length);
            TensorPrimitives.Multiply(x, K, sigmoid);
            TensorPrimitives.Sigmoid<T>(sigmoid, sigmoid);
            for (int i = 0; i < x.Length; i++) d[i] = sigmoid[i] + K * x[i] * sigmoid[i] * (T.One - sigmoid[i]);
            ArrayPool<T>.Shared.Return(s);
        }
    }

    // d/dx tanh x = 1 - tanh^2 x
    private readonly struct TanhOp : IActivation<TanhOp>
    {
        public static void Forward(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Tanh(x, y);

        public static void Derivative(ReadOnlySpan<T> x, Span<T> d)
        {
            TensorPrimitives.Tanh(x, d);
            TensorPrimitives.Multiply<T>(d, d, d);
            TensorPrimitives.Negate<T>(d, d);
            TensorPrimitives.Add(d, T.One, d);
        }
    }

    private readonly struct Relu : IActivation<Relu>
    {
        public static void Forward(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Max(x, T.Zero, y);

        public static void Derivative(ReadOnlySpan<T> x, Span<T> d)
        {
            for (int i = 0; i < x.Length; i++) d[i] = x[i] > T.Zero ? T.One : T.Zero;
        }
    }
}
