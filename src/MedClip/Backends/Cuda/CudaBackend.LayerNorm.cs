using MedClip.Tensors;

namespace MedClip.Backends.Cuda;

// Layer norm and the residual add fused before it (kernels/layernorm.cu): one warp a row for y, mean, rstd and dx, and
// 32-column blocks over row slices for dGamma and dBeta. F32 rows of a multiple of 4 take the float4 kernels; a BF16 y
// of F32 inputs is computed in F32 and rounded on store.
public sealed partial class CudaBackend
{
    public void LayerNormForward(Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd, int rows, int cols, double eps)
    {
        bool bf16 = Bf16Output(nameof(LayerNormForward), x, y);
        SameType(nameof(LayerNormForward), x, gamma, beta, bf16 ? null : y, mean, rstd);
        if (rows == 0) return;
        var (px, pGamma, pBeta, py, pMean, pRstd) = (P(x), P(gamma), P(beta), P(y), P(mean), P(rstd));
        bool vec4 = !bf16 && cols % 4 == 0 && Vectorizable(x, gamma, beta, y);
        var call = bf16 ? Kernels.LayernormCu.LayernormForwardF32Bf16(px, pGamma, pBeta, py, pMean, pRstd, rows, cols, (float)eps)
            : vec4 ? Kernels.LayernormCu.LayernormForwardF32Vec4(px, pGamma, pBeta, py, pMean, pRstd, rows, cols, (float)eps)
            : Kernels.LayernormCu.LayernormForward(KernelType(x), px, pGamma, pBeta, py, pMean, pRstd, rows, cols, eps);
        Launch(call, WarpRows(rows));
    }

    // A BF16 output of F32 inputs (bf16 mixed precision's layer norms before a GEMM), after checking its size.
    private static bool Bf16Output(string op, Tensor x, Tensor y)
    {
        SameLength(x, y, op);
        return y.DType == DType.BF16 && x.DType == DType.F32;
    }

    public void LayerNormBackward(Tensor dy, Tensor x, Tensor gamma, Tensor mean, Tensor rstd, Tensor dx, Tensor dGamma, Tensor dBeta,
        int rows, int cols)
    {
        SameType(nameof(LayerNormBackward), x, dy, gamma, mean, rstd, dx, dGamma, dBeta);
        if (rows == 0) return;
        var t = KernelType(x);
        var (pdy, px, pGamma, pMean, pRstd, pdx) = (P(dy), P(x), P(gamma), P(mean), P(rstd), P(dx));
        bool vec4 = cols % 4 == 0 && Vectorizable(dy, x, gamma, dx);
        Launch(vec4 ? Kernels.LayernormCu.LayernormBackwardInputF32Vec4(pdy, px, pGamma, pMean, pRstd, pdx, rows, cols)
            : Kernels.LayernormCu.LayernormBackwardInput(t, pdy, px, pGamma, pMean, pRstd, pdx, rows, cols), WarpRows(rows));
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.LayernormCu.LayernormBackwardParams(t, pdy, px, pMean, pRstd, P(dGamma), P(dBeta), rows, cols, rowsPerSlice), grid, (32, 8));
    }

    public void AddLayerNormForward(Tensor a, Tensor b, Tensor? sum, Tensor gamma, Tensor beta, Tensor y, Tensor mean, Tensor rstd,
        int rows, int cols, double eps)
    {
        bool bf16 = Bf16Output(nameof(AddLayerNormForward), a, y);
        if (bf16 && sum is null) throw new ArgumentException("AddLayerNormForward: a BF16 output needs the sum kept (it cannot hold the F32 sum).");
        SameType(nameof(AddLayerNormForward), a, b, sum, gamma, beta, bf16 ? null : y, mean, rstd);
        if (rows == 0) return;
        bool vec4 = !bf16 && cols % 4 == 0 && Vectorizable(a, b, gamma, beta, y) && (sum is null || Vectorizable(sum));
        var (pa, pb, pSum, pGamma, pBeta, py, pMean, pRstd) = (P(a), P(b), OptionalP(sum), P(gamma), P(beta), P(y), P(mean), P(rstd));
        var call = bf16 ? Kernels.LayernormCu.AddLayernormForwardF32Bf16(pa, pb, pSum, pGamma, pBeta, py, pMean, pRstd, rows, cols, (float)eps)
            : vec4 ? Kernels.LayernormCu.AddLayernormForwardF32Vec4(pa, pb, pSum, pGamma, pBeta, py, pMean, pRstd, rows, cols, (float)eps)
            : Kernels.LayernormCu.AddLayernormForward(KernelType(a), pa, pb, pSum, pGamma, pBeta, py, pMean, pRstd, rows, cols, eps);
        Launch(call, WarpRows(rows));
    }

    public void AddLayerNormBackward(Tensor dy, Tensor a, Tensor b, Tensor gamma, Tensor mean, Tensor rstd, Tensor? da, Tensor? db,
        Tensor dGamma, Tensor dBeta, int rows, int cols)
    {
        SameType(nameof(AddLayerNormBackward), a, dy, b, gamma, mean, rstd, da, db, dGamma, dBeta);
        if (rows == 0) return;
        var t = KernelType(a);
        bool vec4 = cols % 4 == 0 && Vectorizable(dy, a, b, gamma) && (da is null || Vectorizable(da)) && (db is null || Vectorizable(db));
        var (pdy, pa, pb, pGamma, pMean, pRstd, pda, pdb) = (P(dy), P(a), P(b), P(gamma), P(mean), P(rstd), OptionalP(da), OptionalP(db));
        Launch(vec4 ? Kernels.LayernormCu.AddLayernormBackwardInputF32Vec4(pdy, pa, pb, pGamma, pMean, pRstd, pda, pdb, rows, cols)
            : Kernels.LayernormCu.AddLayernormBackwardInput(t, pdy, pa, pb, pGamma, pMean, pRstd, pda, pdb, rows, cols), WarpRows(rows));
        var (grid, rowsPerSlice) = ColumnSlices(rows, cols);
        Launch(Kernels.LayernormCu.AddLayernormBackwardParams(t, pdy, pa, pb, pMean, pRstd, P(dGamma), P(dBeta), rows, cols, rowsPerSlice), grid, (32, 8));
    }
}
