using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MedClip.Backends.Cpu;

/// <summary>
/// Pointwise activations: one small struct per function (value and derivative side by side) and one shared loop
/// that splits the tensor over the cores. Tanh, quick GELU and tanh GELU run vectorised through TensorPrimitives;
/// erf GELU has its own vectorised float kernel and is exact (erf per element) in double.
/// </summary>
internal static class CpuActivations<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public static void Forward(Activation kind, T[] x, T[] y, long length)
    {
        switch (kind)
        {
            case Activation.GeluErf: Run<GeluErf>(x, null, y, length, backward: false); break;
            case Activation.GeluTanh: Run<GeluTanh>(x, null, y, length, backward: false); break;
            case Activation.QuickGelu: Run<QuickGelu>(x, null, y, length, backward: false); break;
            case Activation.Tanh: Run<TanhOp>(x, null, y, length, backward: false); break;
            case Activation.Relu: Run<Relu>(x, null, y, length, backward: false); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    /// <summary>dx += dy * f'(x).</summary>
    public static void Backward(Activation kind, T[] x, T[] dy, T[] dx, long length)
    {
        switch (kind)
        {
            case Activation.GeluErf: Run<GeluErf>(x, dy, dx, length, backward: true); break;
            case Activation.GeluTanh: Run<GeluTanh>(x, dy, dx, length, backward: true); break;
            case Activation.QuickGelu: Run<QuickGelu>(x, dy, dx, length, backward: true); break;
            case Activation.Tanh: Run<TanhOp>(x, dy, dx, length, backward: true); break;
            case Activation.Relu: Run<Relu>(x, dy, dx, length, backward: true); break;
            default: throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    private static void Run<TOp>(T[] x, T[]? dy, T[] output, long length, bool backward) where TOp : IActivation =>
        CpuParallel.ForElements(length, (s, e) =>
        {
            var xs = x.AsSpan(s, e - s);
            var outs = output.AsSpan(s, e - s);
            if (!backward)
            {
                TOp.Forward(xs, outs);
                return;
            }
            var buffer = ArrayPool<T>.Shared.Rent(e - s);
            var derivative = buffer.AsSpan(0, e - s);
            TOp.Derivative(xs, derivative);
            TensorPrimitives.MultiplyAdd<T>(dy.AsSpan(s, e - s), derivative, outs, outs);
            ArrayPool<T>.Shared.Return(buffer);
        });

    private interface IActivation
    {
        static abstract void Forward(ReadOnlySpan<T> x, Span<T> y);
        static abstract void Derivative(ReadOnlySpan<T> x, Span<T> dydx);
    }

    private static T C(double v) => T.CreateChecked(v);

    // 0.5 x (1 + erf(x/sqrt2)) = x Phi(x); d/dx = Phi(x) + x phi(x), with Phi and phi the normal CDF and density.
    // Double (the gradient checks) evaluates erf exactly. Float runs eight at a time: the tail Phi(-|x|) =
    // exp(-x^2/2) erfcx(|x|/sqrt2) / 2 comes from Erf.ScaledComplement, and Phi(x) is 1 - tail for x >= 0 and the tail
    // itself below, so no 1 + erf cancels: relative error 1e-7 on average and below 6e-7 (5 ulp) for every x.
    private readonly struct GeluErf : IActivation
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
    private readonly struct GeluTanh : IActivation
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
            var t = new T[x.Length];
            TanhOfInner(x, t);
            for (int i = 0; i < x.Length; i++)
            {
                T inner = K * (T.One + C(3) * A * x[i] * x[i]);
                d[i] = C(0.5) * (T.One + t[i]) + C(0.5) * x[i] * (T.One - t[i] * t[i]) * inner;
            }
        }
    }

    // x * sigmoid(1.702 x); d/dx = s + 1.702 x s (1 - s)
    private readonly struct QuickGelu : IActivation
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
            TensorPrimitives.Multiply(x, K, d);
            TensorPrimitives.Sigmoid<T>(d, d);
            for (int i = 0; i < x.Length; i++) d[i] += K * x[i] * d[i] * (T.One - d[i]);
        }
    }

    // d/dx tanh x = 1 - tanh^2 x
    private readonly struct TanhOp : IActivation
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

    private readonly struct Relu : IActivation
    {
        public static void Forward(ReadOnlySpan<T> x, Span<T> y) => TensorPrimitives.Max(x, T.Zero, y);

        public static void Derivative(ReadOnlySpan<T> x, Span<T> d)
        {
            for (int i = 0; i < x.Length; i++) d[i] = x[i] > T.Zero ? T.One : T.Zero;
        }
    }
}
