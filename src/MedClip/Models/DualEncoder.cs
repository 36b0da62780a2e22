using MedClip.Autograd;
using MedClip.Backends;
using MedClip.Losses;
using MedClip.Nn;
using MedClip.Tensors;

namespace MedClip.Models;

/// <summary>How a dual encoder's checkpoint folder is laid out: as HF's VisionTextDualEncoderModel or CLIPModel saves it.</summary>
public enum CheckpointLayout
{
    VisionTextDualEncoder,
    ClipModel,
}

/// <summary>
/// Sizes of an HF VisionTextDualEncoderModel or CLIPModel, and the layout its checkpoints are written in;
/// <paramref name="AdapterDim"/> &gt; 0 puts bottleneck adapters of that dimension into every layer of both towers
/// (<see cref="Adapter"/>).
/// </summary>
public sealed record DualEncoderConfig(VisionConfig Vision, TextConfig Text, int ProjectionDim, double LogitScaleInit = DualEncoderConfig.ClipLogitScaleInit,
    CheckpointLayout Layout = CheckpointLayout.VisionTextDualEncoder, int AdapterDim = 0)
{
    /// <summary>
    /// Throws when <paramref name="backend"/> has no fused attention kernel for a tower's head dimension (the CUDA
    /// kernels compile it in; the CPU takes any).
    /// </summary>
    public void CheckFusedAttention(IBackend backend)
    {
        foreach (var (tower, layer) in new[] { ("image", Vision.Transformer), ("text", Text.Transformer) })
        {
            int headDim = layer.Width / layer.Heads;
            if (!backend.SupportsFusedAttention(headDim))
                throw new ArgumentException($"--attention fused: the {tower} tower's head dimension is {headDim} ({layer.Width} wide, {layer.Heads} heads), and the {backend.Name.ToUpperInvariant()} fused attention has kernels for {string.Join(", ", backend.FusedAttentionHeadDims ?? [])} only; use --attention gemm.");
        }
    }

    /// <summary>CLIP's and HF's logit_scale_init_value: ln(1 / 0.07), a starting scale of 14.3.</summary>
    public const double ClipLogitScaleInit = 2.6592;
}

/// <summary>
/// HF VisionTextDualEncoderModel: embeddings = L2-normalised, bias-free projections of each tower's pooler output;
/// logits = exp(logit_scale) * img @ txt^T; loss = symmetric InfoNCE.
/// </summary>
public sealed class DualEncoder : Module
{
    /// <param name="init">The backend, dtype and seed of the parameters, and the compute policy the model runs with.</param>
    public DualEncoder(Init init, DualEncoderConfig config)
    {
        Config = config;
        Compute = init.Compute;
        Backend = init.Backend;
        var vision = Child("vision_model", IVisionTower.Create(init, config.Vision));
        Vision = (IVisionTower)vision;
        var text = Child("text_model", ITextTower.Create(init, config.Text));
        Text = (ITextTower)text;
        VisualProjection = Child("visual_projection", new Linear(init, config.Vision.Transformer.Width, config.ProjectionDim, config.Vision.Transformer.InitializerRange, bias: false));
        TextProjection = Child("text_projection", new Linear(init, config.Text.Transformer.Width, config.ProjectionDim, config.Text.Transformer.InitializerRange, bias: false));
        LogitScale = Parameter("logit_scale", init.Constant(new Shape(), config.LogitScaleInit));
        // Drawn after everything else, so that the other parameters start as they do without adapters.
        if (config.AdapterDim > 0)
        {
            Vision.AddAdapters(init, config.AdapterDim);
            Text.AddAdapters(init, config.AdapterDim);
        }
    }

    public DualEncoderConfig Config { get; }

    /// <summary>How the model computes, fixed when it is built.</summary>
    public ComputePolicy Compute { get; }

    /// <summary>Where the parameters live and the model computes.</summary>
    public IBackend Backend { get; }
    public IVisionTower Vision { get; }
    public ITextTower Text { get; }
    public Linear VisualProjection { get; }
    public Linear TextProjection { get; }
    public Tensor LogitScale { get; }

    /// <summary>Whether a parameter name belongs to one of the towers (not the projections or the logit scale).</summary>
    public static bool IsTowerParameter(string name) =>
        name.StartsWith("vision_model.", StringComparison.Ordinal) || name.StartsWith("text_model.", StringComparison.Ordinal);

    public Tensor EncodeImages(Tensor pixels) => Ops.L2Normalize(VisualProjection.Forward(Vision.Forward(pixels)));

    public Tensor EncodeTexts(Tensor ids, Tensor attentionMask) => Ops.L2Normalize(TextProjection.Forward(Text.Forward(ids, attentionMask)));

    /// <summary>
    /// The training loss for a batch of matching (image, text) pairs, fused where the policy says so
    /// (<see cref="ComputePolicy.FusedInfoNce"/>).
    /// </summary>
    public Tensor Loss(Tensor pixels, Tensor ids, Tensor attentionMask) =>
        InfoNceLoss.Compute(EncodeImages(pixels), EncodeTexts(ids, attentionMask), LogitScale, Compute.FusedInfoNce);

    /// <summary>
    /// The data-parallel training loss of this rank's pairs: the global batch's InfoNCE loss
    /// (<see cref="DistributedInfoNceLoss"/>), fused where the policy says so, as <see cref="Loss"/>.
    /// </summary>
    public Tensor Loss(Tensor pixels, Tensor ids, Tensor attentionMask, Distributed.ICommunicator communicator, bool localLoss) =>
        DistributedInfoNceLoss.Compute(EncodeImages(pixels), EncodeTexts(ids, attentionMask), LogitScale, communicator, localLoss, Compute.FusedInfoNce);
}
