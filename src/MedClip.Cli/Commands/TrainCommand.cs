using System.CommandLine;
using MedClip.Autograd;
using MedClip.Distributed;
using MedClip.Training;
using G = MedClip.Cli.Commands.OptionGroups;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train train --data SPEC [options]: trains and checkpoints a dual encoder, data parallel when launched by mpirun
/// or torchrun-style variables. Options are filed by <see cref="OptionGroups"/> for help; docs/training.md explains them.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var defaults = new TrainingOptions();
        var data = new Option<string>("--data") { Description = DataOptionSet.SpecDescription, DefaultValueFactory = _ => "synthetic" }.In(G.Data, "SPEC");
        var dataOptions = new DataOptionSet();
        var model = CommonOptions.ModelPreset();
        var imageEncoder = new Option<string?>("--image-encoder") { Description = "Image tower from a Hugging Face ViT or CLIP folder" }.In(G.Model, "DIR");
        var textEncoder = new Option<string?>("--text-encoder") { Description = "Text tower and vocabulary from a Hugging Face BERT-family folder" }
            .In(G.Model, "DIR");
        var imageSize = CommonOptions.PositiveInt("--image-size", "Side of the square input images (default the preset's)")
            .In(G.Model, "PX");
        var device = CommonOptions.Device();
        var precision = CommonOptions.Precision();
        var attention = CommonOptions.Attention();
        var batchSize = CommonOptions.PositiveInt("--batch-size", "Pairs per step; the global batch when data parallel")
            .In(G.Optimisation, "N", defaults.BatchSize);
        var logEvery = CommonOptions.PositiveInt("--log-every", "Log metrics every N steps and at the last").In(G.Output, "N", defaults.LogEvery);
        var localLoss = new Option<bool>("--local-loss") { Description = "Each rank scores only its own pairs against the global batch" }
            .In(G.Distributed);
        var collectiveTimeout = new Option<double?>("--collective-timeout")
        {
            Description = $"Seconds a collective may wait (or ${CollectiveTimeout.EnvironmentVariable})",
        }.In(G.Distributed, "S", CollectiveTimeout.Default.TotalSeconds);
        var steps = CommonOptions.PositiveInt("--steps", "Total optimizer steps (default one epoch).").In(G.Optimisation, "N");
        var epochs = CommonOptions.PositiveInt("--epochs", "Epochs over the training split, without --steps").In(G.Optimisation, "N");
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate" }
            .In(G.Optimisation, "X", defaults.LearningRate);
        var lrTowers = new Option<double?>("--lr-towers") { Description = "Peak learning rate of the two towers (default --lr)" }.In(G.Optimisation, "X");
        var weightDecay = new Option<double?>("--wd") { Description = "AdamW weight decay (matrices and token embeddings)" }
            .In(G.Optimisation, "X", defaults.WeightDecay);
        var lockImage = new Option<bool>("--lock-image") { Description = "Freeze the image tower (locked-image tuning)" }.In(G.Model);
        var lockText = new Option<bool>("--lock-text") { Description = "Freeze the text tower." }.In(G.Model);
        var unlockLast = new Option<int>("--unlock-last") { Description = "Keep the top N layers of a locked tower trainable", DefaultValueFactory = _ => 0 }
            .In(G.Model, "N");
        var warmup = new Option<int?>("--warmup") { Description = "Linear warm-up steps before the cosine decay" }.In(G.Optimisation, "N", defaults.WarmupSteps);
        var seed = new Option<int>("--seed") { Description = "Seed of initialisation, data order and augmentation", DefaultValueFactory = _ => 0 }
            .In(G.Optimisation, "N");
        var output = new Option<string?>("--out") { Description = "Run folder (default runs/<date>-<time>)" }.In(G.Output, "DIR");
        var resume = new Option<string?>("--resume") { Description = "Continue the run in DIR from its latest checkpoint, with its saved options" }.In(G.Output, "DIR");
        var accumulation = CommonOptions.PositiveInt("--accumulation-steps", "Micro-batches summed into each optimizer step")
            .In(G.Optimisation, "N", defaults.AccumulationSteps);
        var noAugment = new Option<bool>("--no-augment") { Description = "No image augmentation (crop, rotation, intensity jitter)" }.In(G.Data);
        var sentenceKeep = new Option<double?>("--sentence-keep") { Description = "Probability that each report sentence is kept" }
            .In(G.Data, "P", defaults.SentenceKeepProbability);
        var dropPeriods = new Option<double?>("--drop-periods") { Description = "Probability that a sentence loses its final period" }
            .In(G.Data, "P", defaults.PeriodDropProbability);
        var workers = CommonOptions.PositiveInt("--workers", "Data loader threads (default the number of cores)").In(G.Data, "N");
        var validateEvery = new Option<int?>("--val-every") { Description = "Validate every N steps and at the end; 0 never" }
            .In(G.Output, "N", defaults.ValidateEvery);
        var adapters = CommonOptions.PositiveInt("--adapters", "Train only bottleneck adapters of this size, norms and projections").In(G.Model, "DIM");
        var extendVocab = CommonOptions.PositiveInt("--extend-vocab", "Add N frequent report words to a --text-encoder vocabulary").In(G.Model, "N");
        var saveEvery = CommonOptions.PositiveInt("--save-every", "Checkpoint every N steps, at the end and on SIGINT/SIGTERM")
            .In(G.Output, "N", defaults.CheckpointEvery);
        var keepCheckpoints = CommonOptions.PositiveInt("--keep-checkpoints", "Keep the newest K checkpoints").In(G.Output, "K", defaults.KeepCheckpoints);
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the run in --out instead of refusing" }.In(G.Output);
        var reportTo = new Option<string>("--report-to")
        {
            Description = "jsonl and/or tensorboard, comma-separated",
            DefaultValueFactory = _ => string.Join(',', defaults.ReportTo),
        }.In(G.Output, "LIST");
        reportTo.Validators.Add(result =>
        {
            try
            {
                MetricsReport.Parse(result.GetValueOrDefault<string>() ?? "");
            }
            catch (ArgumentException e)
            {
                result.AddError(e.Message);
            }
        });
        var command = new Command("train", "Train a dual encoder with the symmetric InfoNCE loss.")
        {
            data, model, imageEncoder, textEncoder, imageSize, device, precision, attention, batchSize, steps, epochs, lr, lrTowers, weightDecay, lockImage, lockText,
            unlockLast, warmup, seed, output, resume, accumulation, sentenceKeep, dropPeriods, noAugment, workers, logEvery, validateEvery, reportTo, localLoss,
            collectiveTimeout, adapters, extendVocab, saveEvery, keepCheckpoints, overwrite,
        };
        dataOptions.AddTo(command);
        command.SetAction((parsed, cancel) =>
        {
            string? resumeDir = parsed.GetValue(resume);
            var compute = ComputePolicy.Parse(parsed.GetValue(precision)!, parsed.GetValue(attention)!);
            var options = defaults with
            {
                Data = parsed.GetValue(data)!,
                DataOptions = dataOptions.Read(parsed),
                Model = parsed.GetValue(model)!,
                ImageEncoder = parsed.GetValue(imageEncoder),
                TextEncoder = parsed.GetValue(textEncoder),
                Device = parsed.GetValue(device)!,
                Precision = compute.Precision,
                Attention = compute.Attention,
                BatchSize = parsed.GetValue(batchSize) ?? defaults.BatchSize,
                Steps = parsed.GetValue(steps),
                Epochs = parsed.GetValue(epochs),
                LearningRate = parsed.GetValue(lr) ?? defaults.LearningRate,
                LearningRateTowers = parsed.GetValue(lrTowers),
                LockImage = parsed.GetValue(lockImage),
                LockText = parsed.GetValue(lockText),
                UnlockLast = parsed.GetValue(unlockLast),
                Adapters = parsed.GetValue(adapters) ?? 0,
                ExtendVocab = parsed.GetValue(extendVocab) ?? 0,
                WarmupSteps = parsed.GetValue(warmup) ?? defaults.WarmupSteps,
                Seed = parsed.GetValue(seed),
                AccumulationSteps = parsed.GetValue(accumulation) ?? defaults.AccumulationSteps,
                SentenceKeepProbability = parsed.GetValue(sentenceKeep) ?? defaults.SentenceKeepProbability,
                PeriodDropProbability = parsed.GetValue(dropPeriods) ?? defaults.PeriodDropProbability,
                Augment = !parsed.GetValue(noAugment),
                LocalLoss = parsed.GetValue(localLoss),
                LogEvery = parsed.GetValue(logEvery) ?? defaults.LogEvery,
                WeightDecay = parsed.GetValue(weightDecay) ?? defaults.WeightDecay,
                Workers = parsed.GetValue(workers) ?? defaults.Workers,
                ValidateEvery = parsed.GetValue(validateEvery) ?? defaults.ValidateEvery,
                ImageSize = parsed.GetValue(imageSize),
                ReportTo = MetricsReport.Parse(parsed.GetValue(reportTo)!),
                CheckpointEvery = parsed.GetValue(saveEvery) ?? defaults.CheckpointEvery,
                KeepCheckpoints = parsed.GetValue(keepCheckpoints) ?? defaults.KeepCheckpoints,
                OutputDirectory = parsed.GetValue(output) ?? RunFolders.NewRun(),
            };
            if (resumeDir is not null)
            {
                var given = parsed.CommandResult.Children.OfType<System.CommandLine.Parsing.OptionResult>().Where(r => !r.Implicit).Select(r => r.Option.Name).ToHashSet();
                options = ResumedOptions.Merge(options, resumeDir, parsed.GetValue(output), given, dataOptions.Names);
            }
            return Task.FromResult(RunTraining.Train(options, resumeDir is not null, parsed.GetValue(collectiveTimeout), parsed.GetValue(overwrite)).ExitCode);
        });
        return command;
    }
}
