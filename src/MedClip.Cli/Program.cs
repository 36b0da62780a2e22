using System.CommandLine;
using MedClip.Cli.Commands;

var root = new RootCommand("medclip-train: CLIP-style dual encoders for medical images and reports.");
root.Subcommands.Add(SelftestCommand.Create());
return root.Parse(args).Invoke();
