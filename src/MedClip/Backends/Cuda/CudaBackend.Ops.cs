using MedClip.Tensors;
using static MedClip.Backends.Cuda.Native.CudaDriver;

namespace MedClip.Backends.Cuda;

// The optimizer's launches: gradient clipping (kernels/reduce.cu) and AdamW (kernels/adamw.cu). Every other op's launches
// are in the partial file named after its kernel file (CudaBackend.LayerNorm.cs for kernels/layernorm.cu).
public sealed partial class CudaBackend
{
    // ---- optimizer -----------------------------------------------------------------------------------------------------

    public void SumOfSquares(Tensor x, Tensor sumSquares)
    {
        SameType(nameof(SumOfSquares), x, sumSquares);
        if (x.Length == 0) return;
        Launch(Kernels.ReduceCu.SumOfSquares(KernelType(x), P(x), x.Length, P(sumSquares)), Blocks(x.Length));
    }

    public void ClipByNorm(Tensor x, Tensor sumSquares, double maxNorm)
    {
        SameType(nameof(ClipByNorm), x, sumSquares);
        if (x.Length == 0) return;
        Launch(Kernels.ReduceCu.ClipByNorm(KernelType(x), P(x), P(sumSquares), maxNorm, x.Length), Blocks(x.Length));
    }

    public void AdamW(Tensor parameter, Tensor gradient, Tensor m, Tensor v, in AdamWStep step, Tensor? bf16Copy = null)
    {
        SameLength(parameter, gradient);
        SameType(nameof(AdamW), parameter, gradient, m, v);
        if (bf16Copy is not null && (bf16Copy.DType != DType.BF16 || parameter.DType != DType.F32 || bf16Copy.Length != parameter.Length))
            throw new ArgumentException($"AdamW: the copy {bf16Copy.Describe()} of {parameter.Describe()} must be BF16 of an F32 parameter of its size.");
        if (parameter.Length == 0) return;
        var k = Blocks(parameter.Length);
        if (KernelType(parameter) == DType.F64)
        {
            Launch(Kernels.AdamwCu.AdamwF64(P(parameter), P(gradient), P(m), P(v), parameter.Length, step.LearningRate, step.Beta1, step.Beta2,
                step.Eps, 1 - step.LearningRate * step.WeightDecay, step.BiasCorrection1, Math.Sqrt(step.BiasCorrection2)), k);
            return;
        }
        // The derived constants in float, exactly as the CPU backend forms them.
        float lr = (float)step.LearningRate;
        float decay = 1f - lr * (float)step.WeightDecay;
        if (bf16Copy is not null)
        {
            Launch(Kernels.AdamwCu.AdamwF32Bf16(P(parameter), P(gradient), P(m), P(v), P(bf16Copy), parameter.Length, lr, (float)step.Beta1,
                (float)step.Beta2, (float)step.Eps, decay, (float)step.BiasCorrection1, MathF.Sqrt((float)step.BiasCorrection2)), k);
            return;
        }
        Launch(Kernels.AdamwCu.AdamwF32(P(parameter), P(gradient), P(m), P(v), parameter.Length, lr, (float)step.Beta1, (float)step.Beta2,
            (float)step.Eps, decay, (float)step.BiasCorrection1, MathF.Sqrt((float)step.BiasCorrection2)), k);
    }

    // The multi-tensor AdamW's table: 8 longs (64 bytes) per tensor, kept between steps and written when it changed; each
    // block of the launch updates one chunk of AdamWChunk values (ADAMW_CHUNK in adamw.cu).
    private const int AdamWTableLongs = 8;
    private const int AdamWChunk = 4096;
    private readonly KeptTable _adamwTable = new();

    public void AdamWMultiTensor(ReadOnlySpan<AdamWTensor> tensors)
    {
        if (tensors.IsEmpty) return;
        var first = tensors[0].Step;
        foreach (var t in tensors)
        {
            SameLength(t.Parameter, t.Gradient);
            SameLength(t.Parameter, t.M);
            SameLength(t.Parameter, t.V);
            if (t.Parameter.DType != DType.F32)
            {
                // F64 (gradient checks) has no fused kernel: the per-tensor path gives the same result.
                foreach (var u in tensors) AdamW(u.Parameter, u.Gradient, u.M, u.V, u.Step, u.Bf16Copy);
                return;
            }
            SameType(nameof(AdamWMultiTensor), t.Parameter, t.Gradient, t.M, t.V);
            if (t.Bf16Copy is { } c && (c.DType != DType.BF16 || c.Length != t.Parameter.Length))
                throw new ArgumentException($"AdamWMultiTensor: the copy {c.Describe()} of {t.Parameter.Describe()} must be BF16 of its size.");
            var s = t.Step;
            if (s.Beta1 != first.Beta1 || s.Beta2 != first.Beta2 || s.Eps != first.Eps || s.BiasCorrection1 != first.BiasCorrection1
                || s.BiasCorrection2 != first.BiasCorrection2)
                throw new ArgumentException($"AdamWMultiTensor: {t.Parameter.Describe()} has its own betas, eps or step; only the learning rate and weight decay may differ.");
        }
        var table = new long[tensors.Length * AdamWTableLongs];
        long chunks = 0;
        for (int i = 0; i < tensors.Length; i++)
        {
            var t = tensors[i];
            // The derived constants in float, exactly as the per-tensor launch forms them.
            float lr = (float)t.Step.LearningRate;
            float decay = 1f - lr * (float)t.Step.WeightDecay;
            var row = table.AsSpan(i * AdamWTableLongs, AdamWTableLongs);
            row[0] = (long)DeviceStorage(t.Parameter).Pointer;
            row[1] = (long)DeviceStorage(t.Gradient).Pointer;
            row[2] = (long)DeviceStorage(t.M).Pointer;
            row[3] = (long)DeviceStorage(t.V).Pointer;
            row[4] = t.Bf16Copy is null ? 0 : (long)DeviceStorage(t.Bf16Copy).Pointer;
            row[5] = t.Parameter.Length;
            row[6] = BitConverter.SingleToUInt32Bits(lr) | (long)BitConverter.SingleToUInt32Bits(decay) << 32;
            row[7] = chunks;
            chunks += (t.Parameter.Length + AdamWChunk - 1) / AdamWChunk;
        }
        if (chunks == 0) return;
        if (chunks > int.MaxValue)
            throw new ArgumentException($"AdamWMultiTensor: {chunks:N0} chunks of {AdamWChunk} values exceed one launch; update the parameters in groups.");
        Launch(Kernels.AdamwCu.AdamwMultiF32(_adamwTable.Write(this, table), tensors.Length, (float)first.Beta1, (float)first.Beta2,
            (float)first.Eps, (float)first.BiasCorrection1, MathF.Sqrt((float)first.BiasCorrection2)), ((uint)chunks, 1));
    }
}
