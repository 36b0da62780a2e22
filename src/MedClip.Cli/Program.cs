using System.CommandLine;
using MedClip.Cli;
using MedClip.Cli.Commands;

// medclip-train: each command lives in Commands/; errors a user can cause are one sentence on stderr and exit code 2.
var root = new RootCommand("medclip-train: CLIP-style dual encoders for medical images and their reports.")
{
    BenchCommand.Create(),
};

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    Console.Error.WriteLine(parsed.Errors[0].Message);
    return 2;
}
try
{
    return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (UsageException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
