using MedClip.Data;
using MedClip.Data.Loading;
using MedClip.Inference;

namespace MedClip.Evaluation;

/// <summary>
/// What an evaluation was asked to do, recorded in its outputs so that it can be repeated, with where the evaluated
/// model's training started (scratch, CLIP, pretrained towers).
/// </summary>
public sealed record EvaluationOptions(
    string CommandLine,
    string Checkpoint,
    string DataSpec,
    string Split,
    PromptSet Prompts,
    UncertainLabels Uncertain,
    int Seed = 0,
    int Resamples = Bootstrap.DefaultResamples,
    int ProbeMaxTrainImages = EvaluationRun.DefaultProbeMaxTrainImages,
    string StartingPoint = "unknown");

/// <summary>A label's linear probe: how it was fitted and how it scores on the evaluated images.</summary>
public sealed record ProbeLabelResult(LinearProbe.Fit Fit, BinaryLabelResult Result);

/// <summary>Everything one evaluation measured. Sections that need labels are null when the split has none (<see cref="LabelsNotice"/>).</summary>
public sealed record EvaluationReport(
    EvaluationOptions Options,
    IReadOnlyList<ImageTextSample> Evaluated,
    int ImagesListed,
    SkipCounter Skipped,
    string CheckpointSha256,
    string DataSha256,
    double LogitScale,
    IReadOnlyList<string> ZeroShotLabels,
    IReadOnlyDictionary<string, double[]>? ZeroShotScores,
    IReadOnlyList<BinaryLabelResult>? ZeroShot,
    MeanAuroc? ZeroShotMean,
    FiveByTwoHundredResult? FiveByTwoHundred,
    string? FiveByTwoHundredNotice,
    RetrievalResult? Retrieval,
    IReadOnlyList<ProbeLabelResult>? Probe,
    MeanAuroc? ProbeMean,
    string? ProbeNotice,
    int ProbeTrainImages,
    SkipCounter ProbeTrainSkipped,
    string? LabelsNotice);

/// <summary>
/// One evaluation of a checkpoint on a dataset split: zero-shot AUROC per label with bootstrap intervals and the mean
/// over the competition labels, the 5x200-style task, image-text retrieval and a linear probe. Images that cannot be
/// read are skipped and counted; a split without labels gets retrieval only.
/// </summary>
public static class EvaluationRun
{
    /// <summary>The probe fits on at most this many training images, drawn with the seed (all when fewer).</summary>
    public const int DefaultProbeMaxTrainImages = 10_000;

    /// <summary>The CheXpert labels scored zero-shot: all but "No Finding", whose negative prompt would read "no no finding".</summary>
    public static IReadOnlyList<string> Labels { get; } = ChexpertLabels.All.Where(l => l != "No Finding").ToList();

    /// <summary>
    /// The labels scored on <paramref name="samples"/>: the CheXpert ones of <see cref="Labels"/> they carry, or, when
    /// they carry other names (a manifest's label columns), every label they carry in first-seen order.
    /// </summary>
    public static IReadOnlyList<string> LabelsOf(IReadOnlyList<ImageTextSample> samples)
    {
        var carried = samples.SelectMany(s => s.Labels.Keys).Distinct(StringComparer.Ordinal).ToList();
        return carried.All(ChexpertLabels.All.Contains) ? Labels.Where(carried.Contains).ToList() : carried;
    }

    public static EvaluationReport Run(CheckpointModel model, IReadOnlyList<ImageTextSample> split, IReadOnlyList<ImageTextSample> train,
        EvaluationOptions options, Action<string>? log = null, IProgress<WorkProgress>? progress = null)
    {
        if (split.Count == 0)
            throw new InvalidDataException($"The {options.Split} split of {options.DataSpec} has no studies to evaluate: choose another with --split or give data that has one.");
        var skipped = new SkipCounter();
        log?.Invoke($"Encoding {split.Count} {options.Split} images ...");
        var (images, kept) = model.EncodeImages(split.Select(s => s.ImagePath).ToList(), skipped, progress, $"embedding {options.Split} images");
        if (kept.Length == 0) throw new InvalidDataException($"None of the {split.Count} {options.Split} images could be read ({skipped.Summary()}).");
        var evaluated = kept.Select(i => split[i]).ToList();
        string checkpointHash = EvaluationHashes.Checkpoint(options.Checkpoint);
        string dataHash = EvaluationHashes.Data(evaluated);

        log?.Invoke("Retrieval ...");
        var retrieval = Retrieval(model, images, evaluated);

        var labels = LabelsOf(evaluated);
        bool hasLabels = evaluated.Any(s => s.Labels.Values.Any(v => v is not null));
        var probeTrainSkipped = new SkipCounter();
        if (!hasLabels)
        {
            const string notice = "the evaluated images carry no CheXpert labels, so zero-shot classification, the 5x200 task and the linear probe were skipped; retrieval ran";
            return new EvaluationReport(options, evaluated, split.Count, skipped, checkpointHash, dataHash, model.LogitScale, labels,
                null, null, null, null, notice, retrieval, null, null, notice, 0, probeTrainSkipped, notice);
        }

        log?.Invoke("Zero-shot classification ...");
        var bootstrap = new Bootstrap(evaluated.Count, options.Seed, options.Resamples);
        var scores = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var positiveDirections = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var zeroShot = new List<BinaryLabelResult>();
        foreach (string label in labels)
        {
            var (positive, negative) = ZeroShotClassifier.Directions(model, options.Prompts.For(label), label);
            positiveDirections[label] = positive;
            scores[label] = ZeroShotClassifier.Score(images, positive, negative, model.LogitScale);
            zeroShot.Add(BinaryLabelResult.Evaluate(label, scores[label], Targets(evaluated, label, options.Uncertain), bootstrap));
            progress?.Report(new WorkProgress($"zero-shot AUROC, {options.Resamples} bootstrap resamples", zeroShot.Count, labels.Count));
        }

        log?.Invoke("5x200 ...");
        var sample = FiveByTwoHundred.Draw(evaluated, options.Seed);
        FiveByTwoHundredResult? fiveByTwoHundred = null;
        string? fiveNotice = null;
        if (sample.Images.Count == 0)
            fiveNotice = "no evaluated frontal image is positive for exactly one competition label and negative for the other four";
        else
        {
            var similarity = sample.Images.Select(i => FiveByTwoHundred.Classes
                .Select(c => EmbeddingMatrix.Dot(images.Row(i), positiveDirections[c])).ToArray()).ToList();
            fiveByTwoHundred = FiveByTwoHundredResult.Evaluate(sample, similarity, options.Seed, options.Resamples);
        }

        var (probe, probeNotice, probeTrainImages) = Probe(model, labels, evaluated, images, train, options, bootstrap, probeTrainSkipped, log, progress);
        return new EvaluationReport(options, evaluated, split.Count, skipped, checkpointHash, dataHash, model.LogitScale, labels,
            scores, zeroShot, MeanAuroc.Of(zeroShot, ChexpertLabels.Competition), fiveByTwoHundred, fiveNotice, retrieval,
            probe, probe is null ? null : MeanAuroc.Of(probe.Select(p => p.Result).ToList(), ChexpertLabels.Competition), probeNotice,
            probeTrainImages, probeTrainSkipped, null);
    }

    public static bool?[] Targets(IReadOnlyList<ImageTextSample> samples, string label, UncertainLabels uncertain) =>
        samples.Select(s => BinaryTargets.Of(s.Labels.GetValueOrDefault(label), uncertain)).ToArray();

    private static RetrievalResult Retrieval(CheckpointModel model, EmbeddingMatrix images, IReadOnlyList<ImageTextSample> evaluated)
    {
        var texts = evaluated.Select(s => s.Text).ToList();
        var encoded = model.Tokenizer.EncodeBatch(texts, model.ContextLength);
        var tokenIds = Enumerable.Range(0, texts.Count).Select(i => encoded.Ids.AsSpan(i * encoded.ContextLength, encoded.ContextLength).ToArray()).ToList();
        return RetrievalResult.Compute(images, model.EncodeTexts(texts), RetrievalResult.GroupsByTokens(tokenIds));
    }

    private static (IReadOnlyList<ProbeLabelResult>?, string?, int) Probe(CheckpointModel model, IReadOnlyList<string> labels, IReadOnlyList<ImageTextSample> evaluated,
        EmbeddingMatrix images, IReadOnlyList<ImageTextSample> train, EvaluationOptions options, Bootstrap bootstrap, SkipCounter trainSkipped,
        Action<string>? log, IProgress<WorkProgress>? progress)
    {
        if (train.Count == 0) return (null, "the dataset has no training split to fit the linear probe on", 0);
        var chosen = Enumerable.Range(0, train.Count).ToArray();
        if (chosen.Length > options.ProbeMaxTrainImages)
        {
            new Random(options.Seed).Shuffle(chosen);
            chosen = [.. chosen.Take(options.ProbeMaxTrainImages).Order()];
        }
        log?.Invoke($"Linear probe: encoding {chosen.Length} training images ...");
        var (trainImages, kept) = model.EncodeImages(chosen.Select(i => train[i].ImagePath).ToList(), trainSkipped, progress, "linear probe: embedding training images");
        if (kept.Length == 0) return (null, "no training image could be read for the linear probe", 0);
        var trainSamples = kept.Select(k => train[chosen[k]]).ToList();
        var results = new ProbeLabelResult[labels.Count];
        int fitted = 0;
        Parallel.For(0, labels.Count, l =>
        {
            string label = labels[l];
            var fit = LinearProbe.Train(label, trainImages, Targets(trainSamples, label, options.Uncertain), images);
            var targets = Targets(evaluated, label, options.Uncertain);
            results[l] = new ProbeLabelResult(fit, fit.Scores is null
                ? BinaryLabelResult.Undefined(label, targets.Count(t => t == true), targets.Count(t => t == false), targets.Count(t => t is null), fit.UndefinedReason!)
                : BinaryLabelResult.Evaluate(label, fit.Scores, targets, bootstrap));
            progress?.Report(new WorkProgress("linear probe: fitting and bootstrap", Interlocked.Increment(ref fitted), labels.Count));
        });
        return (results, null, kept.Length);
    }
}
