using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Backends.Cpu;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// Layers with adapters, as adapter tuning runs them (every weight but the adapters' locked, the input tracked so the
/// gradient flows through the locked weights): forward and backward on the emulated CUDA backend against the CPU, F32.
/// </summary>
[Collection(EmulatorCollection.Name)]
public class CudaAdapterTests(EmulatorFixture emulator)
{
    private static readonly TransformerConfig Config = new(Width: 16, Heads: 2, IntermediateSize: 24, Activation.GeluErf, LayerNormEps: 1e-12, InitializerRange: 0.2);

    [EmulatorTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void LayerWithAdapters_LockedWeights_ForwardAndBackward_MatchCpu(bool postNorm)
    {
        var cpu = Run(CpuBackend.Instance, postNorm);
        var cuda = Run(emulator.Backend, postNorm);
        Assert.Equal(cpu.Count, cuda.Count);
        foreach (var ((name, expected), (_, actual)) in cpu.Zip(cuda))
        {
            double scale = Math.Max(expected.Max(Math.Abs), 1e-6);
            double error = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
            Assert.True(error / scale < 1e-5, $"{name}: max error {error:E2} of {scale:E2}.");
        }
    }

    // The layer's output, its input's gradient and every adapter gradient, by name.
    private static List<(string Name, float[] Values)> Run(IBackend backend, bool postNorm)
    {
        var init = new Init(backend, DType.F32, 3);
        Module layer = postNorm ? new PostNormLayer(init, Config) : new PreNormLayer(init, Config);
        Func<Tensor, Tensor?, Tensor> forward = postNorm ? ((PostNormLayer)layer).Forward : (x, mask) => ((PreNormLayer)layer).Forward(x, mask);
        if (layer is PostNormLayer post) post.AddAdapters(init, 4);
        else ((PreNormLayer)layer).AddAdapters(init, 4);
        var rng = new Random(4);
        float[] Values(long count) => Enumerable.Range(0, (int)count).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        foreach (var (name, p) in layer.NamedParameters())
        {
            bool adapter = name.Contains(".adapter.");
            if (adapter && name.Contains(".up.")) backend.CopyFromHost<float>(Values(p.Length), p.Storage);
            p.RequiresGrad = adapter;
        }
        var x = Tensor.FromArray(backend, [2, 5, 16], Values(2 * 5 * 16));
        x.RequiresGrad = true;
        var mask = Tensor.FromArray(backend, [2, 5], new[] { 1, 1, 1, 0, 0, 1, 1, 1, 1, 1 });
        var y = forward(x, mask);
        y.Backward(Tensor.FromArray(backend, y.Shape, Values(y.Length)));
        return [("output", y.ToArray<float>()), ("input gradient", x.Grad!.ToArray<float>()),
            .. layer.NamedParameters().Where(p => p.Tensor.RequiresGrad).Select(p => (p.Name + " gradient", p.Tensor.Grad!.ToArray<float>()))];
    }
}
