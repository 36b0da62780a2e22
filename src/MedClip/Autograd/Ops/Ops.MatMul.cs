using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Autograd;

public static partial class Ops
{
    /// <summary>
    /// op(a) @ op(b) over the last two axes. A rank-2 b is shared by every matrix of a (a's leading axes fold into rows);
    /// otherwise a and b have the same leading (batch) axes.
    /// With C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC, each written as one more GEMM with beta = 1.
    /// </summary>
    /// <param name="precision">Under bf16 the GEMMs read BF16 operands of A, B and dC; C and the gradients stay F32.</param>
    public static Tensor MatMul(Tensor a, Tensor b, bool transA = false, bool transB = false, Precision precision = Precision.Fp32)
    {
        Require(a.Rank >= 2 && b.Rank >= 2 && a.DType == b.DType, $"MatMul: needs matrices of one dtype, got {a.Describe()} and {b.Describe()}.");
        bool sharedB = b.Rank == 2 && !transA;
        int k = transA ? a.Shape[-2] : a.Shape[-1];
        int kb = transB ? b.Shape[-1] : b.Shape[-2];
        int n = transB ? b.Shape[-2] : b.Shape[-1];
        Require(k == kb, $"MatMul: inner dimensions differ: {a.Describe()}{(transA ? "^T" : "")} @ {b.Describe()}{(transB ? "^T" : "")}.");

        int[] outDims;
        GemmShape shape;
        if (sharedB)
        {
            int m = (int)(a.Length / k);
            outDims = [.. a.Shape.ToArray()[..^1], n];
            shape = new GemmShape(false, transB, m, n, k);
        }
        else
        {
            Require(a.Rank == b.Rank && a.Shape.Dims[..^2].SequenceEqual(b.Shape.Dims[..^2]),
                $"MatMul: batch axes differ: {a.Describe()} and {b.Describe()}.");
            int m = transA ? a.Shape[-1] : a.Shape[-2];
            int batch = (int)(a.Length / ((long)a.Shape[-1] * a.Shape[-2]));
            outDims = [.. a.Shape.ToArray()[..^2], m, n];
            shape = new GemmShape(transA, transB, m, n, k, Batch: batch, StrideA: (long)m * k, StrideB: (long)k * n, StrideC: (long)m * n);
        }
        var c = Tensor.Empty(a.Backend, outDims, a.DType);
        bool bf16 = GemmInBf16(precision, a, b);
        var ga = bf16 ? a.Bf16Operand() : a;
        var gb = bf16 ? b.Bf16Operand() : b;
        a.Backend.Gemm(ga, gb, c, shape);
        // The backward reads the operands (ga, gb: a and b themselves in fp32, their BF16 copies under bf16) and routes
        // to a and b by their slots.
        var (slotA, slotB, be) = (a.Slot, b.Slot, a.Backend);
        return Tape.Record("MatMul", c, [a, b], dc =>
        {
            var s = shape;
            var gdc = bf16 ? dc.Bf16Operand() : dc;
            if (slotA.RequiresGrad)
            {
                var (da, beta) = slotA.GradForGemm();
                be.Gemm(s.TransA ? gb : gdc, s.TransA ? gdc : gb, da, s.TransA
                    ? s with { TransA = s.TransB, TransB = true, M = s.K, N = s.M, K = s.N, Beta = beta, StrideA = s.StrideB, StrideB = s.StrideC, StrideC = s.StrideA }
                    : s with { TransA = false, TransB = !s.TransB, M = s.M, N = s.K, K = s.N, Beta = beta, StrideA = s.StrideC, StrideB = s.StrideB, StrideC = s.StrideA });
            }
            if (slotB.RequiresGrad)
            {
                var (db, beta) = slotB.GradForGemm();
                be.Gemm(s.TransB ? gdc : ga, s.TransB ? ga : gdc, db, s.TransB
                    ? s with { TransA = true, TransB = s.TransA, M = s.N, N = s.K, K = s.M, Beta = beta, StrideA = s.StrideC, StrideB = s.StrideA, StrideC = s.StrideB }
                    : s with { TransA = !s.TransA, TransB = false, M = s.K, N = s.N, K = s.M, Beta = beta, StrideA = s.StrideA, StrideB = s.StrideC, StrideC = s.StrideB });
            }
        });
    }

    /// <summary>y = x @ weight^T + bias with weight [out, in] as in torch.nn.Linear; x is [..., in].</summary>
    /// <param name="residual">
    /// A residual stream to add, y = residual + (x @ weight^T + bias), in the same op: the layer's own output is then
    /// not a tensor of its own that the add's node would keep alive until the backward (F32, [..., out]).
    /// </param>
    /// <param name="precision">Under bf16 both directions' GEMMs read BF16 operands (<see cref="LinearGemm"/>); y stays F32.</param>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null, Tensor? residual = null, Precision precision = Precision.Fp32)
    {
        var gemm = new LinearGemm("Linear", x, weight, bias, precision);
        var y = gemm.Forward();
        AddBiasAndResidual("Linear", y, bias, residual, gemm.Rows, gemm.OutFeatures);
        var residualSlot = residual?.Slot;
        return Tape.Record(residual is null ? "Linear" : "Linear+residual", y, [x, weight, bias, residual], dy =>
        {
            // db = column sums of dy; the residual stream's gradient is dy; under bf16 the GEMMs read dy's BF16 copy.
            var operand = OutputGradientEpilogue(dy, bias, residualSlot, gemm.Bf16, gemm.Rows, gemm.OutFeatures);
            gemm.Backward(dy, operand);
        });
    }

    // What a linear layer does with its output gradient besides its GEMMs: the bias gradient, the residual stream's, and
    // under bf16 the GEMMs' BF16 operand, read in one pass where there are two of them (BiasBackwardEpilogue). Returns
    // that operand, or null for the GEMMs to take their own.
    private static Tensor? OutputGradientEpilogue(Tensor dy, Tensor? bias, GradSlot? residualSlot, bool bf16, int rows, int cols)
    {
        var be = dy.Backend;
        bool biasGrad = bias is { RequiresGrad: true }, residualGrad = residualSlot is { RequiresGrad: true };
        bool cast = bf16 && dy.DType == DType.F32;
        if (biasGrad && (residualGrad || cast))
        {
            var operand = cast ? Tensor.Zeros(be, dy.Shape, DType.BF16) : null;
            be.BiasBackwardEpilogue(dy, bias!.GradOrZeros(), residualGrad ? residualSlot!.GradOrZeros() : null, operand, rows, cols);
            return operand;
        }
        if (biasGrad) be.BiasBackward(dy, bias!.GradOrZeros(), rows, cols);
        if (residualGrad) be.Axpy(1, dy, residualSlot!.GradOrZeros());
        return null;
    }

    // y = (y + b) + residual, the same sums as the layer's output and then a separate add of the residual stream: one
    // pass with both, or the bias or the residual alone.
    private static void AddBiasAndResidual(string op, Tensor y, Tensor? bias, Tensor? residual, int rows, int cols)
    {
        var be = y.Backend;
        if (residual is not null)
        {
            Require(residual.Shape == y.Shape && residual.DType == y.DType,
                $"{op}: residual {residual.Describe()} does not match the output {y.Describe()}.");
            if (bias is not null) be.AddBiasResidual(y, bias, residual, y, rows, cols);
            else be.Axpy(1, residual, y);
        }
        else if (bias is not null)
        {
            be.AddBias(y, bias, rows, cols);
        }
    }

    /// <summary>
    /// y = act(x @ weight^T + bias), a linear layer and its activation (the MLP's first half): the GEMM as in
    /// <see cref="Linear"/>, then the bias add and the activation fused into one pass each way. With p the
    /// pre-activation, the forward keeps f'(p) in the GEMM's output buffer; the backward forms dp = dy * f'(p) and
    /// db = column sums of dp in one pass, then dx and dW from dp as in Linear.
    /// </summary>
    public static Tensor LinearActivation(Tensor x, Tensor weight, Tensor bias, Activation kind, Precision precision = Precision.Fp32)
    {
        var gemm = new LinearGemm("LinearActivation", x, weight, bias, precision);
        var derivative = gemm.Forward();
        var y = EmptyLike(derivative);
        var be = x.Backend;
        be.BiasActivationForward(kind, derivative, bias, y, gemm.Rows, gemm.OutFeatures);
        return Tape.Record($"Linear+{kind}", y, [x, weight, bias], dy =>
        {
            var dPre = Like(derivative);
            // The kernel always writes a bias gradient; an untracked one goes to a scratch buffer.
            be.BiasActivationBackward(kind, derivative, dy, dPre, bias.RequiresGrad ? bias.GradOrZeros() : Like(bias), gemm.Rows, gemm.OutFeatures);
            gemm.Backward(dPre);
        });
    }

    /// <summary>
    /// A transformer MLP, y = fc2(act(fc1(x))) with fc1 = (w1, b1) and fc2 = (w2, b2): <see cref="LinearActivation"/>
    /// then <see cref="Linear"/>. Under bf16 the hidden layer is kept in BF16 instead, as torch.autocast keeps a
    /// BF16 linear output and its activation: the first GEMM's F32 output becomes pre = bf16(x W1^T + b1) and
    /// h = bf16(act(pre)) in one pass (<see cref="IBackend.BiasActivationForward"/> with a BF16 pre), h is the second GEMM's operand
    /// as it is, and the backward computes dh = dy W2 in F32 and turns it into the BF16 operand dpre = bf16(dh act'(pre))
    /// and b1's gradient in one pass. Kept for the backward: 4 bytes per hidden value (pre and h) instead of 10 (F32
    /// pre-activation and activation, and the activation's BF16 copy).
    /// </summary>
    /// <param name="residual">A residual stream added to y in the same op (see <see cref="Linear"/>).</param>
    public static Tensor Mlp(Tensor x, Tensor w1, Tensor b1, Tensor w2, Tensor? b2, Activation kind, Tensor? residual = null,
        Precision precision = Precision.Fp32)
    {
        if (!GemmInBf16(precision, x, w1) || !GemmInBf16(precision, x, w2))
            return Linear(LinearActivation(x, w1, b1, kind, precision), w2, b2, residual, precision);
        var first = new LinearGemm("Mlp", x, w1, b1, precision);
        Require(w2.Rank == 2 && w2.Shape[1] == first.OutFeatures && (b2 is null || b2.Length == w2.Shape[0]),
            $"Mlp: second weight {w2.Describe()} and bias {b2?.Describe()} do not follow the first, {w1.Describe()}.");
        var be = x.Backend;
        int rows = first.Rows, hidden = first.OutFeatures, outFeatures = w2.Shape[0];
        var pre = Tensor.Empty(be, [rows, hidden], DType.BF16);
        var h = Tensor.Empty(be, [rows, hidden], DType.BF16);
        be.BiasActivationForward(kind, first.Forward(), b1, h, rows, hidden, pre);
        var w2Operand = w2.Bf16Operand();
        var y = Tensor.Empty(be, [.. x.Shape.ToArray()[..^1], outFeatures], DType.F32);
        be.Gemm(h, w2Operand, y, new GemmShape(false, true, rows, outFeatures, hidden));
        AddBiasAndResidual("Mlp", y, b2, residual, rows, outFeatures);
        var residualSlot = residual?.Slot;
        return Tape.Record($"Mlp+{kind}", y, [x, w1, b1, w2, b2, residual], dy =>
        {
            var dyOperand = OutputGradientEpilogue(dy, b2, residualSlot, bf16: true, rows, outFeatures) ?? dy.Bf16Operand();
            if (w2.RequiresGrad)
            {
                var (dw2, beta) = w2.Slot.GradForGemm();
                be.Gemm(dyOperand, h, dw2, new GemmShape(true, false, outFeatures, hidden, rows, Beta: beta));
            }
            var dh = Tensor.Empty(be, [rows, hidden], DType.F32);
            be.Gemm(dyOperand, w2Operand, dh, new GemmShape(false, false, rows, hidden, outFeatures));
            var dPre = Tensor.Zeros(be, [rows, hidden], DType.BF16);
            // The kernel always writes a bias gradient; an untracked one goes to a scratch buffer.
            be.BiasActivationBackward(kind, pre, dh, dPre, b1.RequiresGrad ? b1.GradOrZeros() : Like(b1), rows, hidden);
            first.Backward(dPre);
        });
    }

    /// <summary>
    /// The GEMM of a linear layer, y = x @ W^T, and its backward: dx += dy @ W, dW += dy^T @ x. Under bf16 both
    /// directions read BF16 copies of x, W (the parameter's kept copy) and dy; y, the gradients and the bias stay F32.
    /// It keeps x's slot and the operand the weight gradient reads: x itself in fp32, its BF16 copy under bf16 (so an
    /// F32 x need not outlive the forward, as with torch.autocast).
    /// </summary>
    private sealed class LinearGemm
    {
        private readonly Tensor _weight, _gx, _gw;
        private readonly GradSlot _xSlot;
        private readonly IBackend _backend;
        private readonly Shape _xShape;
        private readonly bool _bf16;

        public LinearGemm(string op, Tensor x, Tensor weight, Tensor? bias, Precision precision)
        {
            Require(weight.Rank == 2 && x.Shape.Last == weight.Shape[1],
                $"{op}: input {x.Describe()} does not match weight {weight.Describe()} ([out, in]).");
            _bf16 = GemmInBf16(precision, x, weight);
            // A BF16 activation (bf16 mixed precision keeps some) is a GEMM operand as it is, under bf16.
            Require(x.DType == weight.DType || (x.DType == DType.BF16 && _bf16),
                $"{op}: input {x.Describe()} and weight {weight.Describe()} differ in dtype; a BF16 input needs bf16 precision.");
            Require(bias is null || (bias.Length == weight.Shape[0] && bias.DType == weight.DType),
                $"{op}: bias {bias?.Describe()} does not match weight {weight.Describe()}.");
            (_xSlot, _backend, _xShape, _weight) = (x.Slot, x.Backend, x.Shape, weight);
            Rows = (int)x.Shape.Rows;
            InFeatures = weight.Shape[1];
            OutFeatures = weight.Shape[0];
            _gx = _bf16 ? x.Bf16Operand() : x;
            _gw = _bf16 ? weight.Bf16Operand() : weight;
        }

        public int Rows { get; }
        public int InFeatures { get; }
        public int OutFeatures { get; }

        /// <summary>Whether the GEMMs run on BF16 operands (bf16 precision).</summary>
        public bool Bf16 => _bf16;

        /// <summary>x @ W^T into a new [..., out] tensor.</summary>
        public Tensor Forward()
        {
            var y = Tensor.Empty(_backend, [.. _xShape.ToArray()[..^1], OutFeatures], _weight.DType);
            _backend.Gemm(_gx, _gw, y, new GemmShape(false, true, Rows, OutFeatures, InFeatures));
            return y;
        }

        /// <summary>
        /// dx = dy @ W; dW = dy^T @ x, each added into the gradient of an input that needs one. Under bf16 dy may
        /// already be the BF16 operand, or <paramref name="operand"/> its BF16 copy, made in the same pass as the bias gradient.
        /// </summary>
        public void Backward(Tensor dy, Tensor? operand = null)
        {
            var be = _backend;
            var gdy = operand ?? (_bf16 ? dy.Bf16Operand() : dy);
            if (_xSlot.RequiresGrad)
            {
                var (dx, beta) = _xSlot.GradForGemm();
                be.Gemm(gdy, _gw, dx, new GemmShape(false, false, Rows, InFeatures, OutFeatures, Beta: beta));
            }
            if (_weight.RequiresGrad)
            {
                var (dw, beta) = _weight.Slot.GradForGemm();
                be.Gemm(gdy, _gx, dw, new GemmShape(true, false, OutFeatures, InFeatures, Rows, Beta: beta));
            }
        }
    }

    // Whether a GEMM of a and b reads BF16 operands: under bf16, of F32 tensors (cast) and BF16 ones (as they are).
    private static bool GemmInBf16(Precision precision, Tensor a, Tensor b) =>
        precision == Precision.Bf16 && a.DType is DType.F32 or DType.BF16 && b.DType is DType.F32 or DType.BF16;
}
