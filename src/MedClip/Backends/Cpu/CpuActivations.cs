using System.Numerics;
using System.Numerics.Tensors;

namespace MedClip.Backends.Cpu;

/// <summary>
/// Pointwise activations: one small struct per function (value and derivative side by side) and one shared loop
/// that splits the tensor over the cores. Tanh, quick GELU and tanh GELU run vectorised through TensorPrimitives;
/// erf GELU evaluates erf per element.
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
            var derivative = new T[e - s];
            TOp.Derivative(xs, derivative);
            TensorPrimitives.MultiplyAdd<T>(dy.AsSpan(s, e - s), derivative, outs, outs);
        });

    private interface IActivation
    {
        static abstract void Forward(ReadOnlySpan<T> x, Span<T> y);
        static abstract void Derivative(ReadOnlySpan<T> x, Span<T> dydx);
    }

    private static T C(double v) => T.CreateChecked(v);

    // 0.5 x (1 + erf(x/sqrt2)); d/dx = 0.5 (1 + erf(x/sqrt2)) + x * exp(-x^2/2) / sqrt(2 pi)
    private readonly struct GeluErf : IActivation
    {
        public static void Forward(ReadOnlySpan<T> x, Span<T> y)
        {
            for (int i = 0; i < x.Length; i++) y[i] = C(0.5) * x[i] * (T.One + C(Erf.Evaluate(double.CreateChecked(x[i]) * Math.Sqrt(0.5))));
        }

        public static void Derivative(ReadOnlySpan<T> x, Span<T> d)
        {
            for (int i = 0; i < x.Length; i++)
            {
                double v = double.CreateChecked(x[i]);
                d[i] = C(0.5 * (1 + Erf.Evaluate(v * Math.Sqrt(0.5))) + v * Math.Exp(-0.5 * v * v) / Math.Sqrt(2 * Math.PI));
            }
        }
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
