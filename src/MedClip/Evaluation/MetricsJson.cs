using System.Text.Json;
using System.Text.Json.Nodes;
using MedClip.Data;

namespace MedClip.Evaluation;

/// <summary>
/// metrics.json: every number of an evaluation with its name, interval and sample counts. An undefined value is null
/// beside a "*_undefined_reason" string (also a NaN or infinity, see <see cref="IO.FiniteJson"/>); retrieval uses open_clip's names (image_to_text_R@1, ..._mean_rank,
/// ..._median_rank) and CLIP_benchmark's (text_retrieval_recall@k = image to text, image_retrieval_recall@k = text to image).
/// </summary>
public static class MetricsJson
{
    public static JsonObject Build(EvaluationReport r)
    {
        var o = r.Options;
        var root = new JsonObject
        {
            ["command"] = o.CommandLine,
            ["checkpoint"] = Path.GetFullPath(o.Checkpoint),
            ["starting_point"] = o.StartingPoint,
            ["checkpoint_sha256"] = r.CheckpointSha256,
            ["data"] = o.DataSpec,
            ["split"] = o.Split,
            ["data_sha256"] = r.DataSha256,
            ["seed"] = o.Seed,
            ["bootstrap_resamples"] = o.Resamples,
            ["confidence_level"] = Bootstrap.Level,
            ["uncertain_labels"] = BinaryTargets.Name(o.Uncertain),
            ["images"] = new JsonObject
            {
                ["listed"] = r.ImagesListed,
                ["evaluated"] = r.Evaluated.Count,
                ["skipped"] = Skips(r.Skipped),
            },
            ["labels_notice"] = r.LabelsNotice,
        };
        if (r.ZeroShot is not null)
        {
            root["zero_shot"] = new JsonObject
            {
                ["logit_scale"] = r.LogitScale,
                ["prompt_source"] = r.Options.Prompts.Source,
                ["prompts"] = new JsonObject(r.ZeroShotLabels.Select(l => KeyValuePair.Create(l, (JsonNode?)new JsonObject
                {
                    ["positive"] = new JsonArray(o.Prompts.For(l).Positive.Select(t => (JsonNode?)LabelPrompts.Fill(t, l)).ToArray()),
                    ["negative"] = new JsonArray(o.Prompts.For(l).Negative.Select(t => (JsonNode?)LabelPrompts.Fill(t, l)).ToArray()),
                }))),
                ["mean_auroc_competition"] = Mean(r.ZeroShotMean!),
                ["labels"] = Labels(r.ZeroShot),
            };
        }
        root["five_by_200"] = r.FiveByTwoHundred is { } f ? FiveByTwoHundred(f) : new JsonObject { ["undefined_reason"] = r.FiveByTwoHundredNotice };
        if (r.Retrieval is { } t) root["retrieval"] = Retrieval(t);
        root["linear_probe"] = r.Probe is null
            ? new JsonObject { ["undefined_reason"] = r.ProbeNotice }
            : new JsonObject
            {
                ["lambda"] = LinearProbe.Lambda,
                ["penalty"] = "L2 on the weights, intercept unpenalised (scikit-learn LogisticRegression C = 1 / lambda)",
                ["train_images"] = r.ProbeTrainImages,
                ["train_images_skipped"] = Skips(r.ProbeTrainSkipped),
                ["mean_auroc_competition"] = Mean(r.ProbeMean!),
                ["labels"] = Labels(r.Probe.Select(p => p.Result).ToList(), r.Probe.ToDictionary(p => p.Result.Label, p => p.Fit)),
            };
        return root;
    }

    public static void Write(string path, EvaluationReport report) =>
        IO.AtomicFile.WriteAllText(path, IO.FiniteJson.Sanitize(Build(report)).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));

    private static JsonObject Skips(Data.Loading.SkipCounter skipped) =>
        new(skipped.Counts.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value)));

    private static JsonObject Labels(IReadOnlyList<BinaryLabelResult> results, IReadOnlyDictionary<string, LinearProbe.Fit>? fits = null) =>
        new(results.Select(b => KeyValuePair.Create(b.Label, (JsonNode?)Label(b, fits?.GetValueOrDefault(b.Label)))));

    private static JsonObject Label(BinaryLabelResult b, LinearProbe.Fit? fit)
    {
        var o = new JsonObject
        {
            ["auroc"] = b.Auroc,
            ["auroc_ci_lower"] = b.AurocInterval?.Lower,
            ["auroc_ci_upper"] = b.AurocInterval?.Upper,
            ["auroc_ci_valid_resamples"] = b.AurocInterval?.Valid,
            ["auroc_undefined_reason"] = b.UndefinedReason,
            ["positives"] = b.Positives,
            ["negatives"] = b.Negatives,
            ["excluded_uncertain"] = b.Excluded,
            ["competition"] = ChexpertLabels.Competition.Contains(b.Label),
        };
        if (b.Youden is { } y)
        {
            o["youden"] = new JsonObject
            {
                ["threshold"] = y.Threshold,
                ["sensitivity"] = y.Sensitivity,
                ["specificity"] = y.Specificity,
                ["j"] = y.YoudenJ,
            };
        }
        if (fit is not null)
        {
            o["train_positives"] = fit.TrainPositives;
            o["train_negatives"] = fit.TrainNegatives;
            o["newton_iterations"] = fit.Iterations;
        }
        return o;
    }

    private static JsonObject Mean(MeanAuroc m) => new()
    {
        ["auroc"] = m.Value,
        ["auroc_ci_lower"] = m.Interval?.Lower,
        ["auroc_ci_upper"] = m.Interval?.Upper,
        ["auroc_ci_valid_resamples"] = m.Interval?.Valid,
        ["labels"] = new JsonArray(m.Included.Select(l => (JsonNode?)l).ToArray()),
        ["labels_without_auroc"] = new JsonArray(m.Excluded.Select(l => (JsonNode?)l).ToArray()),
        ["auroc_undefined_reason"] = m.Value is null ? "no competition label has an AUROC on these images" : null,
    };

    private static JsonObject FiveByTwoHundred(FiveByTwoHundredResult f)
    {
        var classes = Evaluation.FiveByTwoHundred.Classes;
        return new JsonObject
        {
            ["classes"] = new JsonArray(classes.Select(c => (JsonNode?)c).ToArray()),
            ["per_class_limit"] = Evaluation.FiveByTwoHundred.PerClass,
            ["candidates_per_class"] = new JsonObject(classes.Select((c, i) => KeyValuePair.Create(c, (JsonNode?)f.Sample.CandidatesPerClass[i]))),
            ["sampled_per_class"] = new JsonObject(classes.Select((c, i) => KeyValuePair.Create(c, (JsonNode?)f.Truth.Count(t => t == i)))),
            ["images"] = f.Truth.Length,
            ["ids_file"] = EvaluationOutputs.FiveByTwoHundredIdsFile,
            ["score"] = "argmax over classes of the image's similarity to the class's positive prompt direction",
            ["accuracy"] = f.Accuracy,
            ["accuracy_ci_lower"] = f.AccuracyInterval?.Lower,
            ["accuracy_ci_upper"] = f.AccuracyInterval?.Upper,
            ["macro_f1"] = f.MacroF1,
            ["macro_f1_ci_lower"] = f.MacroF1Interval?.Lower,
            ["macro_f1_ci_upper"] = f.MacroF1Interval?.Upper,
            ["confusion_matrix_rows_true_columns_predicted"] = new JsonArray(Enumerable.Range(0, classes.Count)
                .Select(row => (JsonNode?)new JsonArray(Enumerable.Range(0, classes.Count).Select(c => (JsonNode?)f.Confusion[row, c]).ToArray())).ToArray()),
        };
    }

    private static JsonObject Retrieval(RetrievalResult t)
    {
        var o = new JsonObject
        {
            ["pairs"] = t.Pairs,
            ["distinct_texts"] = t.DistinctTexts,
            ["duplicate_texts"] = t.DuplicateTexts,
            ["duplicates"] = "reports with identical token ids are one text: any of them is a correct match",
        };
        foreach (var direction in new[] { t.ImageToText, t.TextToImage })
        {
            foreach (int k in RetrievalDirection.RecallAt) o[$"{direction.Name}_R@{k}"] = direction.Recall(k);
            o[$"{direction.Name}_mean_rank"] = direction.MeanRank;
            o[$"{direction.Name}_median_rank"] = direction.MedianRank;
        }
        foreach (int k in RetrievalDirection.RecallAt)
        {
            o[$"text_retrieval_recall@{k}"] = t.ImageToText.Recall(k);
            o[$"image_retrieval_recall@{k}"] = t.TextToImage.Recall(k);
        }
        return o;
    }
}
