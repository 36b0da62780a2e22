using MedClip.Backends.Cpu;
using MedClip.Models;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Tests.Models;

public sealed class PositionInitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("medclip-posinit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Init Init64() => new(CpuBackend.Instance, DType.F64, seed: 0);

    [Fact]
    public void SinCosGrid_HoldsRowAndColumnWaves_AndAZeroClsRow()
    {
        // grid 3, width 8: two frequencies, 1 and 10000^(-1/2) = 0.01.
        var table = Init64().SinCosGrid(grid: 3, width: 8);
        Assert.Equal(new Shape(10, 8), table.Shape);
        double[] values = table.ToArray<double>();
        Assert.All(values[..8], v => Assert.Equal(0.0, v));
        // Patch at row 1, column 2 is row 1 + 1*3 + 2 = 6 of the table.
        double[] expected = [Math.Sin(1), Math.Sin(0.01), Math.Cos(1), Math.Cos(0.01), Math.Sin(2), Math.Sin(0.02), Math.Cos(2), Math.Cos(0.02)];
        for (int i = 0; i < 8; i++) Assert.Equal(expected[i], values[6 * 8 + i], 12);
        // Patch at row 0, column 0: sines 0, cosines 1.
        Assert.Equal([0, 0, 1, 1, 0, 0, 1, 1], values[8..16]);
    }

    [Fact]
    public void SinCosGrid_DrawsNoRandomNumbers()
    {
        var a = Init64();
        a.SinCosGrid(4, 8);
        var afterTable = a.Normal([5], 1.0).ToArray<double>();
        var fresh = Init64().Normal([5], 1.0).ToArray<double>();
        Assert.Equal(fresh, afterTable);
    }

    [Fact]
    public void SinCos_NeedsAWidthDivisibleByFour()
    {
        var ex = Assert.Throws<ArgumentException>(() => Init64().SinCosGrid(4, 6));
        Assert.Contains("divisible by 4", ex.Message);
        var vision = ModelPresets.Get("tiny").Config.Vision;
        var odd = vision with { Transformer = vision.Transformer with { Width = 130, Heads = 2 } };
        var config = Assert.Throws<ArgumentException>(odd.Validate);
        Assert.Contains("position_embedding_init sincos needs a hidden_size divisible by 4, not 130", config.Message);
    }

    [Fact]
    public void TinyStartsFromTheSinCosTable_OtherPresetsFromNoise()
    {
        Assert.Equal(PositionEmbeddingInit.SinCos, ModelPresets.Get("tiny").Config.Vision.PositionInit);
        Assert.Equal(PositionEmbeddingInit.Normal, ModelPresets.Get("small").Config.Vision.PositionInit);
        Assert.Equal(PositionEmbeddingInit.Normal, ModelPresets.Get("base").Config.Vision.PositionInit);
    }

    [Theory]
    [InlineData(VisionModelType.Vit)]
    [InlineData(VisionModelType.ClipVision)]
    public void VisionTowers_StartTheirPositionTableFromTheConfiguredInit(VisionModelType type)
    {
        var vision = ModelPresets.Get("tiny").Config.Vision with { Layers = 1, ModelType = type };
        var table = Init64().SinCosGrid(vision.Grid, vision.Transformer.Width).ToArray<double>();
        Assert.Equal(table, Positions(new Init(CpuBackend.Instance, DType.F64, 3), vision));

        var noisy = Positions(new Init(CpuBackend.Instance, DType.F64, 3), vision with { PositionInit = PositionEmbeddingInit.Normal });
        Assert.Equal(table.Length, noisy.Length);
        Assert.NotEqual(0.0, noisy[0]); // the CLS row is drawn too, not zero
    }

    private static double[] Positions(Init init, VisionConfig vision) => vision.ModelType == VisionModelType.Vit
        ? new VisionTransformer(init, vision).PositionEmbeddings.ToArray<double>()
        : new ClipVisionTransformer(init, vision).PositionEmbedding.Weight.ToArray<double>();

    [Fact]
    public void ConfigJson_WritesSinCosOnlyWhenUsed_AndReadsItBack()
    {
        string tiny = Path.Combine(_dir, "tiny.json"), small = Path.Combine(_dir, "small.json");
        var tinyConfig = ModelPresets.Get("tiny").Config;
        DualEncoderConfigJson.Write(tiny, tinyConfig, contextLength: 64);
        DualEncoderConfigJson.Write(small, ModelPresets.Get("small").Config, contextLength: 128);
        Assert.Contains("\"position_embedding_init\": \"sincos\"", File.ReadAllText(tiny));
        Assert.DoesNotContain("position_embedding_init", File.ReadAllText(small));
        Assert.Equal(tinyConfig, DualEncoderConfigJson.Read(tiny).Config);
    }

    [Fact]
    public void ConfigJson_UnknownPositionInit_IsNamed()
    {
        string path = Path.Combine(_dir, "bad.json");
        DualEncoderConfigJson.Write(path, ModelPresets.Get("tiny").Config, contextLength: 64);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"sincos\"", "\"fourier\""));
        var ex = Assert.Throws<InvalidDataException>(() => DualEncoderConfigJson.Read(path));
        Assert.Contains("position_embedding_init 'fourier' is not supported; use normal or sincos", ex.Message);
    }
}
