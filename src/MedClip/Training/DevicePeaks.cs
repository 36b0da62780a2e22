namespace MedClip.Training;

/// <summary>
/// Dense (no sparsity) tensor throughput of known cards from NVIDIA's datasheets, in TFLOP/s, for MFU: the precision a
/// step's GEMMs run in picks the column (bf16: BF16 tensor cores with FP32 accumulation; tf32: TF32 tensor cores; fp32:
/// the FP32 CUDA cores, which pedantic-FP32 GEMMs use). A card not in the table gives no MFU rather than a guess.
/// </summary>
public static class DevicePeaks
{
    // Matched in order against the device name (cuDeviceGetName), so more specific names come first.
    private static readonly (string[] NameParts, double Bf16, double Tf32, double Fp32)[] Cards =
    [
        (["H200"], 989.4, 494.7, 66.9),
        (["H100", "PCIe"], 756.5, 378.0, 51.2),
        (["H100"], 989.4, 494.7, 66.9), // SXM5 (HBM3)
        (["A100"], 312.0, 156.0, 19.5),
        (["L40S"], 362.1, 183.0, 91.6),
        (["RTX 4090"], 165.2, 82.6, 82.6),
    ];

    /// <summary>The card's peak for <paramref name="precision"/> (fp32, tf32 or bf16), or null for an unknown card.</summary>
    public static double? PeakTflops(string deviceName, string precision)
    {
        foreach (var (parts, bf16, tf32, fp32) in Cards)
        {
            if (!parts.All(p => deviceName.Contains(p, StringComparison.OrdinalIgnoreCase))) continue;
            return precision switch
            {
                "bf16" => bf16,
                "tf32" => tf32,
                "fp32" => fp32,
                _ => throw new ArgumentException($"No peak for precision '{precision}'; it is fp32, tf32 or bf16."),
            };
        }
        return null;
    }
}
