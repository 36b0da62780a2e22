using System.Numerics;
using MedClip.Backends.Cpu;

namespace MedClip.Tests.Backends.Cpu;

/// <summary>
/// CpuGemm against a naive triple loop in double, element by element. Sizes are chosen so that both the direct path
/// (m*n*k &lt; 32768) and the packed path (ragged micro-tiles, several row blocks, rows too few for the cores, several
/// slices of k, more than one 4096-wide column block) are exercised, serial, split over the cores, and over a batch.
/// An element's tolerance is relative to its magnitude, |alpha| * sum_p |A[i,p] B[p,j]| + |beta C[i,j]|.
/// Every case runs on each vector path this CPU accelerates (<see cref="CpuGemmPath"/>).
/// </summary>
public class CpuGemmTests
{
    private const double FloatTolerance = 1e-5;
    private const double DoubleTolerance = 1e-12;

    private static readonly (int M, int N, int K)[] Sizes =
    [
        (1, 1, 1), (7, 13, 1), (13, 7, 33), (33, 65, 13), (1, 200, 127), (200, 1, 65),
        (65, 127, 33), (127, 65, 200), (200, 200, 7), (13, 200, 200), (200, 127, 65), (65, 33, 600), (7, 4100, 5),
    ];

    // Cycled over the shapes: plain product, scaled accumulation into C, and negative scales.
    private static readonly (double Alpha, double Beta)[] Scales = [(1, 0), (0.5, 1), (-2, 0.25), (1.5, -1)];

    /// <summary>The vector paths this CPU accelerates (both on an AVX-512 host).</summary>
    public static CpuGemmPath[] VectorPaths =>
        [.. new[] { CpuGemmPath.Vector256, CpuGemmPath.Vector512 }.Where(CpuGemmPaths.IsAccelerated)];

    public static TheoryData<CpuGemmPath> Paths() => new(VectorPaths);

    public static TheoryData<CpuGemmPath, bool, bool, int, int, int, double, double> Products()
    {
        var data = new TheoryData<CpuGemmPath, bool, bool, int, int, int, double, double>();
        foreach (var path in VectorPaths)
        {
            int caseIndex = 0;
            foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
            foreach (var (m, n, k) in Sizes)
            {
                var (alpha, beta) = Scales[caseIndex++ % Scales.Length];
                data.Add(path, transA, transB, m, n, k, alpha, beta);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Products))]
    public void Float_MatchesNaiveProduct(CpuGemmPath path, bool transA, bool transB, int m, int n, int k, double alpha, double beta) =>
        CheckAgainstNaive<float>(path, new Case(transA, transB, m, n, k, alpha, beta), FloatTolerance);

    [Theory]
    [MemberData(nameof(Products))]
    public void Double_MatchesNaiveProduct(CpuGemmPath path, bool transA, bool transB, int m, int n, int k, double alpha, double beta) =>
        CheckAgainstNaive<double>(path, new Case(transA, transB, m, n, k, alpha, beta), DoubleTolerance);

    [Theory]
    [MemberData(nameof(Paths))]
    public void BetaZero_OverwritesNaNInC(CpuGemmPath path)
    {
        foreach (var (m, n, k) in new[] { (13, 7, 33), (127, 65, 200) })
        {
            CheckAgainstNaive<float>(path, new Case(false, true, m, n, k, 1, 0, FillCWithNaN: true), FloatTolerance);
            CheckAgainstNaive<double>(path, new Case(true, false, m, n, k, 0.5, 0, FillCWithNaN: true), DoubleTolerance);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void BetaOne_AccumulatesTwoProducts(CpuGemmPath path)
    {
        var gemm = new CpuGemm(path);
        foreach (var (m, n, k) in new[] { (33, 65, 13), (127, 200, 65) })
        {
            var rng = new Random(7);
            double[] a = RandomArray<double>(rng, m * k), b = RandomArray<double>(rng, k * n);
            var once = new double[m * n];
            var twice = new double[m * n];
            gemm.Gemm(false, false, m, n, k, 1.0, a, 0, k, 0, b, 0, n, 0, 0.0, once, 0, n, 0, 1);
            gemm.Gemm(false, false, m, n, k, 1.0, a, 0, k, 0, b, 0, n, 0, 0.0, twice, 0, n, 0, 1);
            gemm.Gemm(false, false, m, n, k, 1.0, a, 0, k, 0, b, 0, n, 0, 1.0, twice, 0, n, 0, 1);
            for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], twice[i], 1e-12);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Batched_WithPaddedLeadingDimsAndOffsets(CpuGemmPath path)
    {
        foreach (var (transA, transB, m, n, k, batch) in new[] { (false, false, 7, 13, 33, 5), (true, true, 65, 33, 127, 3), (false, true, 200, 65, 65, 2) })
        {
            CheckAgainstNaive<float>(path, new Case(transA, transB, m, n, k, 1.25, 0.5, batch, Padding: 3), FloatTolerance);
            CheckAgainstNaive<double>(path, new Case(transA, transB, m, n, k, -1, 0, batch, Padding: 5), DoubleTolerance);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Batched_StrideZeroBroadcastsOneOperand(CpuGemmPath path)
    {
        foreach (var (broadcastA, broadcastB) in new[] { (true, false), (false, true) })
        {
            CheckAgainstNaive<float>(path, new Case(false, true, 33, 65, 13, 1, 0, 4, BroadcastA: broadcastA, BroadcastB: broadcastB), FloatTolerance);
            CheckAgainstNaive<double>(path, new Case(true, false, 127, 65, 33, 1, 1, 3, BroadcastA: broadcastA, BroadcastB: broadcastB), DoubleTolerance);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Batched_ManyMatricesSplitOverCores(CpuGemmPath path)
    {
        foreach (var (m, n, k, batch) in new[] { (8, 9, 10, 512), (33, 65, 33, 6) })
        {
            CheckAgainstNaive<float>(path, new Case(true, false, m, n, k, 1, 0, batch), FloatTolerance);
            CheckAgainstNaive<double>(path, new Case(false, true, m, n, k, 1, 0.5, batch), DoubleTolerance);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void KZero_ScalesC(CpuGemmPath path)
    {
        CheckAgainstNaive<double>(path, new Case(false, false, 7, 13, 0, 1, 0, FillCWithNaN: true), DoubleTolerance);
        CheckAgainstNaive<double>(path, new Case(true, true, 65, 33, 0, 1, 0.5, 2), DoubleTolerance);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void AlphaZero_DoesNotReadAOrB(CpuGemmPath path)
    {
        double[] a = [double.NaN, double.NaN], b = [double.NaN, double.NaN], c = [3, 4];
        new CpuGemm(path).Gemm(false, false, 1, 2, 1, 0.0, a, 0, 1, 0, b, 0, 2, 0, 2.0, c, 0, 2, 0, 1);
        Assert.Equal([6.0, 8.0], c);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void BadArguments_Throw(CpuGemmPath path)
    {
        var gemm = new CpuGemm(path);
        var x = new float[16];
        Assert.Throws<ArgumentOutOfRangeException>(() => gemm.Gemm(false, false, 4, 4, 4, 1f, x, 0, 3, 0, x, 0, 4, 0, 0f, x, 0, 4, 0, 1));
        Assert.Throws<ArgumentException>(() => gemm.Gemm(false, false, 4, 4, 4, 1f, x, 1, 4, 0, x, 0, 4, 0, 0f, new float[16], 0, 4, 0, 1));
        Assert.Throws<ArgumentException>(() => gemm.Gemm(false, false, 2, 2, 2, 1f, x, 0, 2, 0, x, 0, 2, 0, 0f, new float[16], 0, 2, 2, 2));
    }

    /// <param name="Padding">extra columns in every leading dimension, plus the offset of each operand and the gap between batch entries</param>
    private sealed record Case(bool TransA, bool TransB, int M, int N, int K, double Alpha, double Beta, int Batch = 1,
        int Padding = 0, bool BroadcastA = false, bool BroadcastB = false, bool FillCWithNaN = false);

    private static void CheckAgainstNaive<T>(CpuGemmPath path, Case t, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(((t.M * 31 + t.N) * 31 + t.K) * 31 + t.Batch);
        int aRows = t.TransA ? t.K : t.M, aCols = t.TransA ? t.M : t.K;
        int bRows = t.TransB ? t.N : t.K, bCols = t.TransB ? t.K : t.N;
        int lda = Math.Max(1, aCols + t.Padding), ldb = Math.Max(1, bCols + t.Padding), ldc = t.N + t.Padding;
        long strideA = t.BroadcastA ? 0 : (long)aRows * lda + t.Padding;
        long strideB = t.BroadcastB ? 0 : (long)bRows * ldb + t.Padding;
        long strideC = (long)t.M * ldc + t.Padding;
        int offset = t.Padding;

        T[] a = RandomArray<T>(rng, (int)(offset + (t.Batch - 1) * strideA + aRows * lda));
        T[] b = RandomArray<T>(rng, (int)(offset + (t.Batch - 1) * strideB + bRows * ldb));
        T[] c = RandomArray<T>(rng, (int)(offset + (t.Batch - 1) * strideC + t.M * ldc));
        if (t.FillCWithNaN) Array.Fill(c, T.NaN);
        T[] before = (T[])c.Clone();

        new CpuGemm(path).Gemm(t.TransA, t.TransB, t.M, t.N, t.K, T.CreateChecked(t.Alpha), a, offset, lda, strideA,
            b, offset, ldb, strideB, T.CreateChecked(t.Beta), c, offset, ldc, strideC, t.Batch);

        // The reference reads plain doubles: converting per access would dominate the suite's time.
        double[] aValues = ToDouble(a), bValues = ToDouble(b), cBefore = ToDouble(before);
        var written = new bool[c.Length];
        for (int batch = 0; batch < t.Batch; batch++)
        for (int i = 0; i < t.M; i++)
        for (int j = 0; j < t.N; j++)
        {
            double sum = 0, magnitude = 0;
            for (int p = 0; p < t.K; p++)
            {
                double aip = aValues[offset + batch * strideA + (t.TransA ? (long)p * lda + i : (long)i * lda + p)];
                double bpj = bValues[offset + batch * strideB + (t.TransB ? (long)j * ldb + p : (long)p * ldb + j)];
                sum += aip * bpj;
                magnitude += Math.Abs(aip * bpj);
            }
            long at = offset + batch * strideC + (long)i * ldc + j;
            double old = t.Beta == 0 ? 0 : cBefore[at];
            double expected = t.Alpha * sum + t.Beta * old;
            double bound = tolerance * (Math.Abs(t.Alpha) * magnitude + Math.Abs(t.Beta * old)) + 1e-300;
            double got = double.CreateChecked(c[at]);
            if (!(Math.Abs(got - expected) <= bound))
                Assert.Fail($"{t}: C[{batch}][{i},{j}] = {got}, expected {expected} (tolerance {bound:E2})");
            written[at] = true;
        }
        for (int at = 0; at < c.Length; at++)
            if (!written[at] && !c[at].Equals(before[at])) Assert.Fail($"{t}: padding element {at} of C was changed.");
    }

    private static double[] ToDouble<T>(T[] values) where T : IFloatingPointIeee754<T> =>
        Array.ConvertAll(values, double.CreateChecked);

    private static T[] RandomArray<T>(Random rng, int length) where T : IFloatingPointIeee754<T>
    {
        var values = new T[length];
        for (int i = 0; i < length; i++) values[i] = T.CreateChecked(2 * rng.NextDouble() - 1);
        return values;
    }
}
