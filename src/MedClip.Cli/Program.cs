using System.CommandLine;
using MedClip.Cli;
using MedClip.Cli.Commands;

// medclip-train: each command lives in Commands/; errors a user can cause are one sentence on stderr and exit code 2.
var root = new RootCommand("medclip-train: CLIP-style dual encoders for medical images and their reports.\n" +
    "With no command: train the tiny model on generated synthetic chest X-rays, then evaluate it.")
{
    TrainCommand.Create(),
    EvalCommand.Create(),
    EmbedCommand.Create(),
    SynthCommand.Create(),
    PrepCommand.Create(),
    TextsCommand.Create(),
    BenchCommand.Create(),
    SelftestCommand.Create(),
    ConvertCommand.Create(),
    KernelsCommand.Create(),
};
root.SetAction((_, cancel) => Task.FromResult(DefaultRun.Execute(cancel)));
GroupedHelp.Attach(root);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine(parsed.Errors[0].Message);
    return 2;
}
try
{
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is UsageException or MedClip.Distributed.DistributedSetupException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or ArgumentException)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
