using System.Numerics;
using System.Runtime.Intrinsics;
using MedClip.Backends.Cpu;

namespace MedClip.Tests.Backends.Cpu;

/// <summary>
/// The GEMM's numerics do not depend on its vector width: the Vector256 and Vector512 paths give the same bits, and both
/// give exactly the bits of a scalar model of the documented order (an element's products summed from zero in k order,
/// in slices of 256, with FMA; the first slice writes alpha * sum or alpha * sum + beta * C, each later one
/// alpha * sum + C; a product under 32768 multiply-adds sums with a multiply and an add, then alpha * sum + beta * C).
/// With the backend's alpha = 1 and beta of 0 or 1 that is the order the Vector256-only GEMM had, so a model run is
/// reproducible across versions. Shapes: odd sizes, k = 1, single rows and columns, several k slices and column
/// blocks, and the tiny preset's shapes (rows 2080 = 32 x 65 tokens, width 128, MLP 512, attention 65 x 65 x 32 over
/// 128 heads), with every transpose.
/// </summary>
public class CpuGemmBitIdentityTests
{
    private static readonly (int M, int N, int K, int Batch)[] Shapes =
    [
        (1, 1, 1, 1), (7, 13, 1, 1), (31, 33, 31, 1), (1, 200, 300, 1), (300, 1, 200, 1), (6, 32, 256, 1), (12, 64, 257, 1),
        (97, 131, 513, 1), (500, 33, 70, 1), (2, 3000, 40, 1), (33, 4100, 7, 1), (130, 130, 130, 2), (65, 65, 32, 128),
        (65, 32, 65, 128), (2080, 128, 128, 1), (128, 128, 2080, 1), (2080, 512, 128, 1), (128, 512, 2080, 1),
    ];

    // The backend's scales first; then general ones, where the rounding of beta * C shows.
    private static readonly (double Alpha, double Beta)[] Scales = [(1, 0), (1, 1), (0.5, 0.25), (-1.5, 1)];

    public static TheoryData<bool, bool, int, int, int, int, double, double> Cases()
    {
        var data = new TheoryData<bool, bool, int, int, int, int, double, double>();
        int caseIndex = 0;
        foreach (var (m, n, k, batch) in Shapes)
        foreach (bool transA in new[] { false, true })
        foreach (bool transB in new[] { false, true })
        {
            var (alpha, beta) = Scales[caseIndex++ % Scales.Length];
            data.Add(transA, transB, m, n, k, batch, alpha, beta);
        }
        return data;
    }

    [Fact]
    public void Host_RunsTheWidestAcceleratedPath()
    {
        var expected = Vector512.IsHardwareAccelerated ? CpuGemmPath.Vector512
            : Vector256.IsHardwareAccelerated ? CpuGemmPath.Vector256 : CpuGemmPath.Scalar;
        Assert.Equal(expected, CpuGemmPaths.Host);
        Assert.Equal(expected, MedClip.Backends.Cpu.CpuBackend.Instance.GemmPath);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Float_EveryPathMatchesTheModelBitForBit(bool transA, bool transB, int m, int n, int k, int batch, double alpha, double beta) =>
        CheckPaths<float>(transA, transB, m, n, k, batch, alpha, beta);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Double_EveryPathMatchesTheModelBitForBit(bool transA, bool transB, int m, int n, int k, int batch, double alpha, double beta) =>
        CheckPaths<double>(transA, transB, m, n, k, batch, alpha, beta);

    /// <summary>Runs every accelerated vector path on the same operands; each must equal the model, element by element.</summary>
    private static void CheckPaths<T>(bool transA, bool transB, int m, int n, int k, int batch, double alphaValue, double betaValue)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(((m * 31 + n) * 31 + k) * 31 + batch);
        int lda = transA ? m : k, ldb = transB ? k : n;
        long strideA = (long)m * k, strideB = (long)k * n, strideC = (long)m * n;
        T[] a = RandomArray<T>(rng, (int)(strideA * batch)), b = RandomArray<T>(rng, (int)(strideB * batch));
        T[] c0 = RandomArray<T>(rng, (int)(strideC * batch));
        T alpha = T.CreateChecked(alphaValue), beta = T.CreateChecked(betaValue);

        T[] expected = (T[])c0.Clone();
        Model(transA, transB, m, n, k, batch, alpha, a, lda, b, ldb, beta, expected);

        var paths = CpuGemmTests.VectorPaths;
        Assert.NotEmpty(paths);
        foreach (var path in paths)
        {
            T[] c = (T[])c0.Clone();
            new CpuGemm(path).Gemm(transA, transB, m, n, k, alpha, a, 0, lda, strideA, b, 0, ldb, strideB, beta, c, 0, n, strideC, batch);
            for (int i = 0; i < c.Length; i++)
            {
                if (!c[i].Equals(expected[i]))
                    Assert.Fail($"{CpuGemmPaths.Name(path)} {(transA ? "T" : "N")}{(transB ? "T" : "N")} {m}x{n}x{k} batch {batch} alpha {alphaValue} beta {betaValue}: "
                        + $"element {i} is {c[i]:R}, the model gives {expected[i]:R}.");
            }
        }
    }

    /// <summary>The documented order, one element at a time (see the class summary).</summary>
    private static void Model<T>(bool transA, bool transB, int m, int n, int k, int batch, T alpha, T[] a, int lda, T[] b, int ldb, T beta, T[] c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        const int slice = 256;
        bool direct = (long)m * n * k < 1 << 15;
        for (int bi = 0; bi < batch; bi++)
        for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
        {
            T A(int p) => a[(long)bi * m * k + (transA ? (long)p * lda + i : (long)i * lda + p)];
            T B(int p) => b[(long)bi * k * n + (transB ? (long)j * ldb + p : (long)p * ldb + j)];
            ref T cij = ref c[(long)bi * m * n + (long)i * n + j];
            if (direct)
            {
                T sum = T.Zero;
                for (int p = 0; p < k; p++) sum += A(p) * B(p);
                cij = beta == T.Zero ? alpha * sum : alpha * sum + beta * cij;
                continue;
            }
            for (int p0 = 0; p0 < k; p0 += slice)
            {
                T sum = T.Zero;
                for (int p = p0; p < Math.Min(k, p0 + slice); p++) sum = T.FusedMultiplyAdd(A(p), B(p), sum);
                T sliceBeta = p0 == 0 ? beta : T.One;
                cij = sliceBeta == T.Zero ? sum * alpha : T.FusedMultiplyAdd(sum, alpha, cij * sliceBeta);
            }
        }
    }

    private static T[] RandomArray<T>(Random rng, int length) where T : IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++) values[i] = T.CreateChecked(2 * rng.NextDouble() - 1);
        return values;
    }
}
