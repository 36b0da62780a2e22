using MedClip.Autograd;
using MedClip.Backends.Cpu;
using MedClip.Distributed;
using MedClip.Losses;
using MedClip.Tensors;

namespace MedClip.Tests.Distributed;

/// <summary>
/// The global-batch loss with all-gather-with-gradient on simulated ranks, in double: a small dual "encoder" (one
/// projection per modality, L2-normalised, learnable temperature) whose rank-averaged gradients must equal the gradient
/// of the single-process loss on the whole batch, for the global and the local loss.
/// </summary>
public sealed class DistributedInfoNceLossTests
{
    private const int Batch = 6, Input = 5, Embed = 4;

    private sealed record Encoder(Tensor ImageWeight, Tensor TextWeight, Tensor LogitScale)
    {
        public Tensor[] Parameters => [ImageWeight, TextWeight, LogitScale];

        public static Encoder Create()
        {
            var rng = new Random(11);
            Tensor Param(Shape shape, Func<double> value)
            {
                var t = Tensor.FromArray(CpuBackend.Instance, shape, Enumerable.Range(0, (int)shape.Elements).Select(_ => value()).ToArray());
                t.RequiresGrad = true;
                return t;
            }
            return new Encoder(Param([Input, Embed], () => rng.NextDouble() - 0.5), Param([Input, Embed], () => rng.NextDouble() - 0.5), Param([], () => 2.3));
        }

        public (Tensor Images, Tensor Texts) Encode(double[] images, double[] texts, int rows) => (
            Ops.L2Normalize(Ops.MatMul(Tensor.FromArray(CpuBackend.Instance, [rows, Input], images), ImageWeight)),
            Ops.L2Normalize(Ops.MatMul(Tensor.FromArray(CpuBackend.Instance, [rows, Input], texts), TextWeight)));
    }

    private static (double[] Images, double[] Texts) Inputs()
    {
        var rng = new Random(5);
        double[] Draw() => Enumerable.Range(0, Batch * Input).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
        return (Draw(), Draw());
    }

    private static (double Loss, double[][] Grads) SingleProcess()
    {
        var (images, texts) = Inputs();
        var encoder = Encoder.Create();
        var (img, txt) = encoder.Encode(images, texts, Batch);
        var loss = InfoNceLoss.Compute(img, txt, encoder.LogitScale);
        loss.Backward();
        return (loss.Item(), encoder.Parameters.Select(p => p.Grad!.ToArray<double>()).ToArray());
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(2, true)]
    [InlineData(3, true)]
    [InlineData(6, true)]
    public void RankAveragedGradients_EqualTheSingleProcessGradient(int ranks, bool localLoss)
    {
        var (expectedLoss, expectedGrads) = SingleProcess();
        var (images, texts) = Inputs();
        int n = Batch / ranks;
        var results = ThreadedRanks.Run(ranks, comm =>
        {
            var encoder = Encoder.Create();
            var slice = (comm.Rank * n * Input)..((comm.Rank + 1) * n * Input);
            var (img, txt) = encoder.Encode(images[slice], texts[slice], n);
            var loss = DistributedInfoNceLoss.Compute(img, txt, encoder.LogitScale, comm, localLoss);
            loss.Backward();
            double meanLoss = comm.AllReduceSum([loss.Item()])[0] / comm.WorldSize;
            GradientAverage.Apply(encoder.Parameters, comm);
            return (meanLoss, Grads: encoder.Parameters.Select(p => p.Grad!.ToArray<double>()).ToArray());
        });

        foreach (var (loss, grads) in results)
        {
            Assert.Equal(expectedLoss, loss, 12);
            for (int p = 0; p < expectedGrads.Length; p++)
            {
                Assert.True(expectedGrads[p].Any(g => Math.Abs(g) > 1e-3), "the reference gradient is not trivially zero");
                for (int i = 0; i < expectedGrads[p].Length; i++)
                    Assert.True(Math.Abs(expectedGrads[p][i] - grads[p][i]) < 1e-12, $"parameter {p}[{i}]: {grads[p][i]} vs {expectedGrads[p][i]}");
            }
        }
    }

    [Fact]
    public void AllGather_BackwardSumsTheRanksGradientsOfItsOwnSlice()
    {
        // Rank r's loss is sum(w_r * gathered) with w_r = r + 1; d/dx_r of the sum over ranks is sum_r w_r = 1 + 2 + 3.
        var grads = ThreadedRanks.Run(3, comm =>
        {
            var x = Tensor.FromArray(CpuBackend.Instance, [2, 2], new double[] { 1, 2, 3, 4 });
            x.RequiresGrad = true;
            var gathered = Collectives.AllGather(x, comm);
            Assert.Equal(new Shape(6, 2), gathered.Shape);
            gathered.Backward(Tensor.FromArray(CpuBackend.Instance, [6, 2], Enumerable.Repeat((double)(comm.Rank + 1), 12).ToArray()));
            return x.Grad!.ToArray<double>();
        });
        Assert.All(grads, g => Assert.Equal([6.0, 6.0, 6.0, 6.0], g));
    }
}
