using MedClip.Tensors;

namespace MedClip.Backends;

/// <summary>
/// The op set at kernel granularity. Every tensor argument is contiguous; sizes are passed explicitly where a kernel
/// would need them. Conventions, as in llm.c: forward ops overwrite their outputs (=); backward ops and everything
/// named Accumulate add into their gradient outputs (+=), so a tensor used twice and gradient accumulation need nothing
/// special. Floating-point tensors of one call share a dtype (F32 or F64 on the CPU); ids, targets and masks are I32.
/// </summary>
public interface IBackend
{
    string Name { get; }

    /// <summary>A zero-filled buffer.</summary>
    Storage Allocate(DType dtype, long length);

    /// <summary>
    /// A buffer for an op's output that the op overwrites whole (a forward result, a GEMM with beta = 0): its contents are
    /// undefined, so a backend that reuses memory need not clear it. Backends without that distinction zero it anyway.
    /// </summary>
    Storage AllocateUninitialized(DType dtype, long length) => Allocate(dtype, length);

    /// <summary>
    /// Opens a scope that owns the storage this backend allocates on the calling thread until it is disposed (or an inner
    /// scope opens): disposing it releases that storage at once, and a released tensor fails in any later op instead of
    /// reading memory that another tensor may hold. A training step runs in one, so its activations and gradients are
    /// freed before the next step, never by the garbage collector. A backend with managed memory only may ignore it.
    /// </summary>
    IDisposable OpenScope();
    void CopyFromHost<T>(ReadOnlySpan<T> source, Storage destination) where T : unmanaged;
    void CopyToHost<T>(Storage source, Span<T> destination) where T : unmanaged;

    // ---- fill, copy, cast, elementwise ----------------------------------------------------------------------------

    void Fill(Tensor x, double value);

    /// <summary>Converts between floating dtypes (F32, F64, BF16 with round-to-nearest-even); lengths must match.</summary>
    void Cast(Tensor source, Tensor destination);

    /// <summary>
    /// Copies <paramref name="blocks"/> runs of <paramref name="blockLength"/> elements: run i goes from
    /// source[sourceOffset + i*sourceStride ..] to destination[destinationOffset + i*destinationStride ..], adding when
    /// <paramref name="accumulate"/>. Serves concatenation, slicing, token selection and their gradients.
    /// </summary>
    void CopyBlocks(Tensor source, long sourceOffset, long sourceStride, Tensor destination, long destinationOffset,
        long destinationStride, int blockLength, int blocks, bool accumulate);

    /// <summary>y = alpha*a + beta*b, elementwise over equal lengths.</summary>
    void AddScaled(Tensor a, double alpha, Tensor b, double beta, Tensor y);

    /// <summary>y += alpha*x.</summary>
    void Axpy(double alpha, Tensor x, Tensor y);

    /// <summary>x *= alpha in place.</summary>
    void Scale(Tensor x, double alpha);

    /// <summary>x *= factor[0] in place, with the factor read from device memory (no host round trip).</summary>
    void ScaleByTensor(Tensor x, Tensor factor);

    // ---- matrix multiply ------------------------------------------------------------------------------------------

    /// <summary>
    /// Strided-batched row-major GEMM: C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b]. op(A) is [m, k] (A stored
    /// [k, m] when transposed), op(B) is [k, n]. Leading dimensions are the natural ones; a stride of 0 broadcasts.
    /// beta = 0 overwrites C. BF16 A and B (bf16 mixed precision) accumulate in FP32 into an F32 C; the CUDA backend also
    /// writes a BF16 C.
    /// </summary>
    void Gemm(Tensor a, Tensor b, Tensor c, in GemmShape shape);

    // ---- bias ------------------------------------------------------------------------------------------------------

    /// <summary>
    /// x[r, c] += bias[c] for a [rows, cols] x (position embeddings use cols = tokens*width). Given a BF16
    /// <paramref name="y"/> (F32 x and bias: bf16's q, k and v, rounded to GEMM operands), x is only read and
    /// y = bf16(x + bias) in one pass, the values of the add then <see cref="Cast"/>.
    /// </summary>
    void AddBias(Tensor x, Tensor bias, int rows, int cols, Tensor? y = null);

    /// <summary>
    /// y[r, c] = (x[r, c] + bias[c]) + residual[r, c] over [rows, cols]: a linear layer's bias and the residual stream it
    /// joins, in one pass; the sums of <see cref="AddBias"/> then <see cref="Axpy"/>, in their order. y may be x.
    /// </summary>
    void AddBiasResidual(Tensor x, Tensor bias, Tensor residual, Tensor y, int rows, int cols);

    /// <summary>dBias[c] += sum over r of dy[r, c].</summary>
    void BiasBackward(Tensor dy, Tensor dBias, int rows, int cols);

    /// <summary>
    /// A linear layer's output gradient dy [rows, cols] read once: dBias[c] += sum over r of dy[r, c], and when given
    /// dResidual += dy (the residual stream the layer joined) and dyBf16 = bf16(dy) (bf16's operand of the layer's GEMMs,
    /// F32 dy only). The values of <see cref="BiasBackward"/>, <see cref="Axpy"/> and <see cref="Cast"/>.
    /// </summary>
    void BiasBackwardEpilogue(Tensor dy, Tensor dBias, Tensor? dResidual, Tensor? dyBf16, int rows, int cols);

    // ---- layer norm ------------------------------------------------------------------------------------------------

    /// <summary>
    /// y = (x - mean) * rstd * gamma + beta per row of [rows, cols]; saves mean and rstd = 1/sqrt(var + eps). y may be BF16
    /// for F32 inputs (bf16 mixed precision's norms that only feed GEMMs): computed in F32, stored rounded.
    /// </summary>
    void LayerNormForward(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, double eps);

    /// <summary>
    /// With xhat = (x - mean)*rstd and g = dy*gamma: dx += rstd * (g - mean(g) - xhat*mean(g*xhat)),
    /// dGamma += sum over rows of dy*xhat, dBeta += sum over rows of dy.
    /// </summary>
    void LayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma,
        Tensor dBeta, int rows, int cols);

    /// <summary>
    /// Residual add and layer norm in one pass: s = a + b, then y = LayerNorm(s) as <see cref="LayerNormForward"/>, saving
    /// mean and rstd. s is written into <paramref name="sum"/> when one is given (a pre-LN residual stream that the layer
    /// goes on to use); otherwise it is not kept. y may be BF16 for F32 inputs when the sum is kept.
    /// </summary>
    void AddLayerNormForward(Tensor a, Tensor b, Tensor? sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
        int rows, int cols, double eps);

    /// <summary>
    /// Backward of <see cref="AddLayerNormForward"/> for a sum that has no other use (post-LN): the layer norm's input
    /// gradient dx (as <see cref="LayerNormBackward"/>, with s recomputed as a + b) is added into both da and db, since
    /// s = a + b passes it to each summand unchanged; da or db may be null for an input without a gradient. dGamma and
    /// dBeta as <see cref="LayerNormBackward"/>.
    /// </summary>
    void AddLayerNormBackward(Tensor dy, Tensor a, Tensor b, Tensor gamma, Tensor mean, Tensor rstd, Tensor? da, Tensor? db,
        Tensor dGamma, Tensor dBeta, int rows, int cols);

    // ---- activations -----------------------------------------------------------------------------------------------

    void ActivationForward(Activation kind, Tensor x, Tensor y);

    /// <summary>dx += dy * f'(x).</summary>
    void ActivationBackward(Activation kind, Tensor x, Tensor dy, Tensor dx);

    /// <summary>
    /// A linear layer's bias and activation in one pass over [rows, cols]: with p[r, c] = x[r, c] + bias[c],
    /// y = f(p) and x = f'(p) in place, the derivative the backward reads (so it need not evaluate f' again).
    /// bf16's MLP hidden layer, kept in BF16, passes a BF16 <paramref name="pre"/> and a BF16 y for the F32 GEMM output
    /// x and F32 bias: x is then only read, pre = bf16(x + bias) and y = bf16(f(pre)), the activation of the rounded
    /// pre-activation.
    /// </summary>
    void BiasActivationForward(Activation kind, Tensor x, Tensor bias, Tensor y, int rows, int cols, Tensor? pre = null);

    /// <summary>
    /// With g = dy * f'(p): dx += g and dBias[c] += sum over r of g[r, c], in one pass. <paramref name="kept"/> is
    /// what the forward kept: f'(p) itself in F32/F64 (kind is then not read), or bf16's BF16 pre-activation p, with F32
    /// dy and dBias and a BF16 dx, overwritten with bf16(g): it is only the next GEMMs' operand.
    /// </summary>
    void BiasActivationBackward(Activation kind, Tensor kept, Tensor dy, Tensor dx, Tensor dBias, int rows, int cols);

    // ---- attention softmax -----------------------------------------------------------------------------------------

    /// <summary>
    /// y = softmax over the last axis of scale * x, for x [batch*heads*queries, keys]. keyMask (I32 [batch, keys], 1 keep,
    /// 0 padding) removes padded keys; <paramref name="causal"/> removes the keys after each row's query (key k > query q,
    /// queries and keys counted alike, as in a decoder or CLIP's text tower); a row with every key masked becomes zeros.
    /// </summary>
    void SoftmaxForward(Tensor x, Tensor? keyMask, Tensor y, int batch, int heads, int queries, int keys, double scale, bool causal);

    /// <summary>dx += scale * y * (dy - sum(dy*y)) per row.</summary>
    void SoftmaxBackward(Tensor y, Tensor dy, Tensor dx, int rows, int keys, double scale);

    /// <summary>The head dimensions <see cref="AttentionForward"/> and <see cref="AttentionBackward"/> have kernels for; null when any is taken.</summary>
    IReadOnlyList<int>? FusedAttentionHeadDims { get; }

    /// <summary>Whether the fused attention takes heads of <paramref name="headDim"/> dimensions.</summary>
    bool SupportsFusedAttention(int headDim) => FusedAttentionHeadDims?.Contains(headDim) ?? true;

    /// <summary>
    /// Fused multi-head attention (FlashAttention-style) on projected q, k, v [batch, tokens, heads*headDim], laid out as
    /// the linear layers write them: o = softmax(scale * q k^T) v per head with the key padding mask of
    /// <see cref="SoftmaxForward"/> (I32 [batch, tokens]; a query whose keys are all padded gets o = 0). The scores are
    /// not kept: lse [batch, heads, tokens] receives each query row's log-sum-exp of its scaled kept scores (+inf for a
    /// row with none), which is all <see cref="AttentionBackward"/> needs besides the inputs and o. o and lse are
    /// overwritten. o may be BF16 for F32 inputs (bf16 mixed precision): computed in F32, stored rounded.
    /// </summary>
    void AttentionForward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, in AttentionShape shape);

    /// <summary>
    /// Backward of <see cref="AttentionForward"/>, recomputing p = exp(scale q.k - lse): with delta_i = dO_i . o_i and
    /// ds = p (dO v^T - delta), dq += scale ds k, dk += scale ds^T q, dv += p^T dO. A null gradient is not computed.
    /// </summary>
    void AttentionBackward(Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor o, Tensor lse, Tensor dO, Tensor? dq, Tensor? dk,
        Tensor? dv, in AttentionShape shape);

    // ---- embeddings ------------------------------------------------------------------------------------------------

    /// <summary>y[i, :] = table[ids[i], :] for a [vocab, width] table; an id outside the table is an error.</summary>
    void EmbeddingForward(Tensor table, Tensor ids, Tensor y, int count, int vocab, int width);

    /// <summary>dTable[ids[i], :] += dy[i, :] (scatter-add; repeated ids accumulate).</summary>
    void EmbeddingBackward(Tensor dy, Tensor ids, Tensor dTable, int count, int vocab, int width);

    // ---- permutes --------------------------------------------------------------------------------------------------

    /// <summary>
    /// y = x with axes reordered: y's axis i is x's axis perm[i], for x of shape sourceDims (rank up to 6). Head split is
    /// [B,T,H,d] -> [B,H,T,d] with perm (0,2,1,3); patchify is a rank-6 permute. Adds into y when accumulate.
    /// </summary>
    void Permute(Tensor x, Tensor y, ReadOnlySpan<int> sourceDims, ReadOnlySpan<int> perm, bool accumulate);

    // ---- L2 normalisation ------------------------------------------------------------------------------------------

    /// <summary>y = x / max(||x||, 1e-12) per row of [rows, cols]; saves the norms.</summary>
    void L2NormalizeForward(Tensor x, Tensor y, Tensor norms, int rows, int cols);

    /// <summary>dx += (dy - y * sum(dy*y)) / norm per row.</summary>
    void L2NormalizeBackward(Tensor y, Tensor dy, Tensor norms, Tensor dx, int rows, int cols);

    // ---- losses ----------------------------------------------------------------------------------------------------

    /// <summary>
    /// Cross-entropy of a [rows, cols] logits matrix, along rows (each row is a distribution over columns, target per
    /// row) or along columns (each column a distribution over rows, target per column): loss[0] += weight * sum of
    /// (logsumexp - logit of the target).
    /// </summary>
    void CrossEntropyForward(Tensor logits, Tensor targets, Tensor loss, int rows, int cols, bool alongColumns, double weight);

    /// <summary>dLogits += dLoss[0] * weight * (softmax - onehot(target)) along the same axis.</summary>
    void CrossEntropyBackward(Tensor logits, Tensor targets, Tensor dLoss, Tensor dLogits, int rows, int cols,
        bool alongColumns, double weight);

    /// <summary>
    /// Fused symmetric InfoNCE on square logits [n, n] with pair i matching pair i, forward and backward together:
    /// loss[0] = (mean over rows of the row cross-entropy + mean over columns of the column cross-entropy) / 2, and
    /// dLogits = d loss / d logits = (softmax along rows + softmax along columns - 2 I) / 2n. Both are overwritten (=).
    /// </summary>
    void InfoNceForwardBackward(Tensor logits, Tensor loss, Tensor dLogits, int n);

    /// <summary>y = exp(min(logScale[0], maxLogScale)) * x: CLIP's temperature, clamped as open_clip does.</summary>
    void ExpScaleForward(Tensor x, Tensor logScale, Tensor y, double maxLogScale);

    /// <summary>dx += s*dy; dLogScale += s * sum(dy*x) when logScale is below the clamp (else 0), s = exp(min(logScale, max)).</summary>
    void ExpScaleBackward(Tensor x, Tensor logScale, Tensor dy, Tensor dx, Tensor? dLogScale, double maxLogScale);

    // ---- optimizer -------------------------------------------------------------------------------------------------

    /// <summary>sumSquares[0] += sum of x^2 (accumulated over every gradient to get the global norm).</summary>
    void SumOfSquares(Tensor x, Tensor sumSquares);

    /// <summary>
    /// One gradient's share of global-norm clipping (torch.nn.utils.clip_grad_norm_), with the norm left on the device:
    /// factor = maxNorm / (sqrt(sumSquares[0]) + 1e-6) in double, and x *= factor (in x's precision) when factor &lt; 1
    /// (so a NaN norm leaves x as it is and an infinite one zeroes it).
    /// </summary>
    void ClipByNorm(Tensor x, Tensor sumSquares, double maxNorm);

    /// <summary>
    /// Decoupled AdamW on one parameter: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
    /// p -= lr * (m/biasCorrection1 / (sqrt(v/biasCorrection2) + eps) + weightDecay*p).
    /// When <paramref name="bf16Copy"/> is given (BF16, F32 parameter) it receives the updated p rounded to nearest even.
    /// </summary>
    void AdamW(Tensor parameter, Tensor gradient, Tensor m, Tensor v, in AdamWStep step, Tensor? bf16Copy = null);

    /// <summary>
    /// <see cref="AdamW"/> on many parameters at once, each with its own learning rate and weight decay (the other
    /// hyperparameters and the step must be shared), with the same result bit for bit as one call per tensor; the CUDA
    /// backend updates every F32 tensor in one kernel launch.
    /// </summary>
    void AdamWMultiTensor(ReadOnlySpan<AdamWTensor> tensors);

    // ---- the training step's ledger (StepLedgerLayout): what the step did, kept on the device until the host reads it --

    /// <summary>
    /// Adds a micro-batch's loss to the open step's: ledger[Loss] = (first ? 0 : ledger[Loss]) + loss[0] / accumulationSteps,
    /// in double (ledger F64, loss a one-element F32 or F64 tensor).
    /// </summary>
    void AccumulateLoss(Tensor loss, Tensor ledger, int accumulationSteps, bool first);

    /// <summary>
    /// Closes the open step: when its loss or sumSquares[0] (the squared gradient norm) is not finite the step is marked
    /// skipped and recorded in the ring of <paramref name="recordCapacity"/> records, otherwise it is marked applied and
    /// both counts advance (<see cref="StepLedgerLayout"/>).
    /// </summary>
    void CloseStep(Tensor sumSquares, Tensor ledger, int recordCapacity);

    /// <summary>
    /// <see cref="AdamWMultiTensor"/> with the step read from the ledger: nothing when it marks the step skipped, else
    /// t = ledger[Updates] and each tensor's learning rate schedule[ledger[Steps] - 1] * its scale (schedule F64, by steps
    /// applied before the update). The result equals <see cref="AdamWMultiTensor"/> with the same numbers formed on the host.
    /// </summary>
    void AdamWScheduled(ReadOnlySpan<AdamWParameter> parameters, double beta1, double beta2, double eps, Tensor ledger, Tensor schedule);
}

/// <summary>
/// One parameter of a scheduled AdamW update (<see cref="IBackend.AdamWScheduled"/>): its state, optional BF16 copy, its
/// factor on the scheduled learning rate and its weight decay.
/// </summary>
public readonly record struct AdamWParameter(Tensor Parameter, Tensor Gradient, Tensor M, Tensor V, Tensor? Bf16Copy, double LearningRateScale,
    double WeightDecay);

/// <summary>One parameter of a multi-tensor AdamW update: its state, optional BF16 copy and its own hyperparameters.</summary>
public readonly record struct AdamWTensor(Tensor Parameter, Tensor Gradient, Tensor M, Tensor V, Tensor? Bf16Copy, AdamWStep Step);

/// <summary>Shape of a strided-batched row-major GEMM (see <see cref="IBackend.Gemm"/>).</summary>
public readonly record struct GemmShape(bool TransA, bool TransB, int M, int N, int K, double Alpha = 1, double Beta = 0,
    int Batch = 1, long StrideA = 0, long StrideB = 0, long StrideC = 0);

/// <summary>
/// Shape of a fused attention call (see <see cref="IBackend.AttentionForward"/>): q, k, v and o are [Batch, Tokens,
/// Heads*HeadDim], lse [Batch, Heads, Tokens]; scores are Scale * q.k (1/sqrt(HeadDim) in a transformer).
/// </summary>
public readonly record struct AttentionShape(int Batch, int Tokens, int Heads, int HeadDim, double Scale)
{
    public long Elements => (long)Batch * Tokens * Heads * HeadDim;
    public long Rows => (long)Batch * Heads * Tokens;
}

/// <summary>Hyperparameters of one AdamW update; bias corrections are 1 - beta^t.</summary>
public readonly record struct AdamWStep(double LearningRate, double Beta1, double Beta2, double Eps, double WeightDecay,
    double BiasCorrection1, double BiasCorrection2);

public enum Activation
{
    /// <summary>0.5 x (1 + erf(x/sqrt 2)), HF "gelu".</summary>
    GeluErf,
    /// <summary>0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))), HF "gelu_new"/"gelu_pytorch_tanh".</summary>
    GeluTanh,
    /// <summary>x * sigmoid(1.702 x), CLIP's "quick_gelu".</summary>
    QuickGelu,
    Tanh,
    Relu,
}
