using System.CommandLine;
using MedClip.Distributed;
using MedClip.Training;

namespace MedClip.Cli.Commands;

/// <summary>
/// medclip-train train --data SPEC [--model PRESET] [--image-encoder HF_DIR] [--text-encoder HF_DIR] [--device] [--precision] [--attention gemm|fused] [--batch-size N] [--steps N|--epochs N]
/// [--lr X] [--lr-towers X] [--lock-image] [--lock-text] [--unlock-last N] [--adapters DIM] [--extend-vocab N] [--warmup N] [--seed S] [--out DIR] [--resume DIR] [--log-every N] [--local-loss]
/// [--collective-timeout S] [--save-every N] [--keep-checkpoints K] [--overwrite]: trains and checkpoints a dual encoder, data parallel when launched by mpirun or torchrun-style variables.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = DataOptionSet.SpecDescription, DefaultValueFactory = _ => "synthetic" };
        var dataOptions = new DataOptionSet();
        var model = CommonOptions.ModelPreset();
        var imageEncoder = new Option<string?>("--image-encoder")
        {
            Description = "Start the image tower from a Hugging Face ViT or CLIP folder (config.json, model.safetensors or pytorch_model.bin).",
        };
        var textEncoder = new Option<string?>("--text-encoder")
        {
            Description = "Start the text tower from a Hugging Face BERT-family folder (config.json, weights, vocab.txt); its vocabulary is used.",
        };
        var device = CommonOptions.Device();
        var precision = CommonOptions.Precision();
        var attention = CommonOptions.Attention();
        var batchSize = CommonOptions.PositiveInt("--batch-size",
            "Image-text pairs per step (default 32); in a multi-process job the global batch, split evenly over the ranks, and the contrastive loss sees all of it.");
        var logEvery = CommonOptions.PositiveInt("--log-every", "Write a metrics.jsonl line every N steps (default 10; the last step always).");
        var localLoss = new Option<bool>("--local-loss")
        {
            Description = "Multi-process: each rank computes the loss of its own pairs against the whole global batch (n x B logits instead of B x B); same gradient.",
        };
        var collectiveTimeout = new Option<double?>("--collective-timeout")
        {
            Description = $"Multi-process: seconds a collective may wait for the other ranks before the job is aborted (default: {CollectiveTimeout.EnvironmentVariable} or {CollectiveTimeout.Default.TotalSeconds:0}).",
        };
        var steps = CommonOptions.PositiveInt("--steps", "Total optimizer steps (default: one epoch).");
        var epochs = CommonOptions.PositiveInt("--epochs", "Epochs over the training split, when --steps is not given.");
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (default 5e-4)." };
        var lrTowers = new Option<double?>("--lr-towers") { Description = "Peak learning rate of the two towers (default: --lr, which the projections keep)." };
        var lockImage = new Option<bool>("--lock-image") { Description = "Freeze the image tower (locked-image tuning): no gradients, no updates." };
        var lockText = new Option<bool>("--lock-text") { Description = "Freeze the text tower: no gradients, no updates." };
        var unlockLast = new Option<int>("--unlock-last") { Description = "With --lock-image/--lock-text: keep the last N layers (and the pooler) trainable.", DefaultValueFactory = _ => 0 };
        var adapters = CommonOptions.PositiveInt("--adapters", "Insert bottleneck adapters of this dimension and train only them, the layer norms and projections.");
        var extendVocab = CommonOptions.PositiveInt("--extend-vocab", "With --text-encoder: add the N most frequent report words its vocabulary splits into pieces.");
        var warmup = new Option<int?>("--warmup") { Description = "Linear warm-up steps (default 50)." };
        var seed = new Option<int>("--seed") { Description = "Seed for initialisation, data order and augmentation.", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "Run folder for metrics.jsonl and checkpoints (default runs/<time>)." };
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this folder from its latest checkpoint, with its saved options." };
        var saveEvery = CommonOptions.PositiveInt("--save-every", "Write a checkpoint every N steps (default 500; also at the end and on SIGINT/SIGTERM).");
        var keepCheckpoints = CommonOptions.PositiveInt("--keep-checkpoints", "Keep the newest K checkpoints (default 2).");
        var overwrite = new Option<bool>("--overwrite") { Description = "Replace the run in --out (its checkpoints and metrics) instead of refusing." };
        var accumulation = CommonOptions.PositiveInt("--accumulation-steps", "Micro-batches of --batch-size whose gradients are summed per optimizer step (default 1).");
        var noAugment = new Option<bool>("--no-augment") { Description = "Train on the images as they are: no crop, rotation or intensity jitter (texts are augmented only with --sentence-keep or --drop-periods)." };
        var sentenceKeep = new Option<double?>("--sentence-keep")
        {
            Description = "Probability that each sentence of a training report is kept (text augmentation; default 1 = whole reports).",
        };
        var dropPeriods = new Option<double?>("--drop-periods")
        {
            Description = "Probability that each sentence of a training report loses its final period (text augmentation; default 0).",
        };
        var command = new Command("train", "Train a dual encoder with the symmetric InfoNCE loss.")
        {
            data, model, imageEncoder, textEncoder, device, precision, attention, batchSize, steps, epochs, lr, lrTowers, lockImage, lockText, unlockLast, adapters, extendVocab, warmup, seed, output, resume,
            accumulation, sentenceKeep, dropPeriods, noAugment, logEvery, localLoss, collectiveTimeout, saveEvery, keepCheckpoints, overwrite,
        };
        dataOptions.AddTo(command);
        command.SetAction((parsed, cancel) =>
        {
            string? resumeDir = parsed.GetValue(resume);
            var defaults = new TrainingOptions();
            var options = defaults with
            {
                Data = parsed.GetValue(data)!,
                DataOptions = dataOptions.Read(parsed),
                Model = parsed.GetValue(model)!,
                ImageEncoder = parsed.GetValue(imageEncoder),
                TextEncoder = parsed.GetValue(textEncoder),
                Device = parsed.GetValue(device)!,
                Precision = parsed.GetValue(precision)!,
                Attention = parsed.GetValue(attention)!,
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
