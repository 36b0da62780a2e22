using System.CommandLine;
using MedClip.Cli;
using MedClip.Cli.Commands;

// medclip-train: each command lives in Commands/. Every way out is one sentence on stderr and a documented exit code
// (ExitCodes): 2 for what the user can fix, 1 for a failure, 130/143 for a run interrupted by a signal; never a stack trace.
var root = new RootCommand("medclip-train: CLIP-style dual encoders for medical images and their reports.\n" +
    "With no command: train the tiny model on generated synthetic chest X-rays, then evaluate it.")
{
    DefaultRun.SeedOption,
    TrainCommand.Create(),
    EvalCommand.Create(),
    EmbedCommand.Create(),
    ClassifyCommand.Create(),
    IndexCommand.Create(),
    SearchCommand.Create(),
    ServeCommand.Create(),
    SynthCommand.Create(),
    PrepCommand.Create(),
    TextsCommand.Create(),
    BenchCommand.Create(),
    SelftestCommand.Create(),
    ConvertCommand.Create(),
    KernelsCommand.Create(),
    ProbeCommand.Create(),
};
root.SetAction(parse => DefaultRun.Execute(parse.GetValue(DefaultRun.SeedOption)));
CommandLineErrors.RefuseEmptyValues(root);
GroupedHelp.Attach(root);

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine(CommandLineErrors.Describe(parsed.Errors[0]));
    return ExitCodes.Usage;
}
try
{
    // Signals are not System.CommandLine's: training handles SIGINT and SIGTERM itself (InterruptSignals).
    return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null });
}
catch (Exception e)
{
    Console.Error.WriteLine(ExitCodes.Describe(e));
    return ExitCodes.For(e);
}
