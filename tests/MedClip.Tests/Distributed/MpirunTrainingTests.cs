using MedClip.IO;
using MedClip.Training;

namespace MedClip.Tests.Distributed;

/// <summary>
/// The real thing on CPU processes: medclip-train under mpirun (Open MPI) trains the tiny preset with the global batch
/// split over 2 or 3 ranks and repeats the single-process run with the same global batch (augmentation on): the loss of
/// every step and every parameter of the final checkpoint agree to 1e-5. Then the faults: ranks launched with different
/// options stop at start-up naming the difference, and a rank that dies makes the other abort within a bounded time.
/// </summary>
public sealed class MpirunTrainingTests(MpirunTraining fixture) : IClassFixture<MpirunTraining>
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);

    private static double[] Losses(string run) =>
        MetricsLog.Read(Path.Combine(run, "metrics.jsonl")).Where(l => l["loss"] is not null).Select(l => (double)l["loss"]!).ToArray();

    private string SingleProcessRun()
    {
        string run = Path.Combine(fixture.Directory, "single");
        if (!File.Exists(Path.Combine(run, "metrics.jsonl")))
        {
            string[] command = fixture.TrainArguments("single");
            var (code, output, _) = MpirunTraining.Run(command[0], command[1..], Limit);
            Assert.True(code == 0, output);
        }
        return run;
    }

    [MpirunFact]
    public void TwoRanks_RepeatTheSingleProcessRun() => AssertSameAsSingleProcess(2);

    [MpirunFact]
    public void ThreeRanksWithLocalLoss_RepeatTheSingleProcessRun() => AssertSameAsSingleProcess(3, "--local-loss");

    private void AssertSameAsSingleProcess(int ranks, params string[] extra)
    {
        string single = SingleProcessRun();
        string name = $"ranks{ranks}";
        var (code, output, _) = MpirunTraining.Mpi(ranks, fixture.TrainArguments(name, extra: extra), Limit);
        Assert.True(code == 0, output);
        Assert.Contains($"Data parallel over {ranks} ranks (MPI): global batch 6, {6 / ranks} per rank.", output);
        string run = Path.Combine(fixture.Directory, name);

        double[] expected = Losses(single), actual = Losses(run);
        Assert.Equal(4, expected.Length);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5, $"step {i + 1}: {actual[i]} vs {expected[i]}");

        using var want = SafetensorsFile.Read(Path.Combine(CheckpointStore.Latest(single)!, CheckpointStore.WeightsFile));
        using var got = SafetensorsFile.Read(Path.Combine(CheckpointStore.Latest(run)!, CheckpointStore.WeightsFile));
        Assert.Equal(want.Tensors.Keys.Order(), got.Tensors.Keys.Order());
        foreach (var (key, tensor) in want.Tensors)
        {
            float[] a = tensor.ToFloat32(), b = got[key].ToFloat32();
            double worst = a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
            Assert.True(worst < 1e-5, $"{key} differs by {worst}");
        }
        // Only rank 0 wrote: one checkpoint folder per save, one metrics line per step.
        Assert.Single(Directory.GetDirectories(run, "checkpoint-*"));
    }

    [MpirunFact]
    public void RanksWithDifferentSeeds_StopAtStartUpNamingTheSeed()
    {
        string[] rank0 = fixture.TrainArguments("mismatch", seed: 0), rank1 = fixture.TrainArguments("mismatch", seed: 1);
        var (code, output, _) = MpirunTraining.Run(MpirunTraining.Mpirun!, ["-np", "1", .. rank0, ":", "-np", "1", .. rank1], Limit);
        Assert.NotEqual(0, code);
        Assert.Contains("The ranks disagree on the seed: 0 on rank 0 but 1 on rank 1; launch every rank with the same options and data.", output);
    }

    [MpirunFact]
    public void ARankThatDies_MakesTheOtherAbortAfterTheCollectiveTimeout()
    {
        // Rank 1 is killed a few seconds in. mpirun would end the job itself; told not to, rank 0 is left waiting in a
        // collective and must give up after the 4 s timeout with a message, taking the job down with MPI_Abort.
        string train = string.Join(' ', fixture.TrainArguments("dies", 1000, 0, "--collective-timeout", "4"));
        string script = $"if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then (sleep 6; kill -KILL $$) & fi; exec {train}";
        var (code, output, elapsed) = MpirunTraining.Run(MpirunTraining.Mpirun!,
            ["--mca", "orte_abort_on_non_zero_status", "0", "-np", "2", "bash", "-c", script], Limit);
        Assert.NotEqual(0, code);
        Assert.Matches(@"Rank 0 of 2: .* did not complete within 4 s \(MEDCLIP_COLLECTIVE_TIMEOUT\); another rank has probably died or hung, so the job is aborted\.", output);
        Assert.True(elapsed < TimeSpan.FromSeconds(120), $"the job took {elapsed.TotalSeconds:F0} s to end");
    }
}
