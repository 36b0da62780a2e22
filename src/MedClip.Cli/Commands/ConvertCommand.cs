using System.CommandLine;
using MedClip.IO.Torch;

namespace MedClip.Cli.Commands;

/// <summary><c>medclip-train convert --in FILE.bin --out FILE.safetensors</c>: a PyTorch state dict to safetensors, no Python.</summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var input = new Option<string>("--in") { Description = "PyTorch checkpoint (pytorch_model.bin, zip or legacy format).", Required = true };
        var output = new Option<string>("--out") { Description = "safetensors file to write (model.safetensors).", Required = true };
        var command = new Command("convert", "Convert a PyTorch state dict to safetensors, refusing pickles that could run code.")
        {
            input, output,
        };
        command.SetAction(parsed =>
        {
            string from = parsed.GetValue(input)!, to = parsed.GetValue(output)!;
            if (!File.Exists(from)) throw new FileNotFoundException($"PyTorch checkpoint '{from}' does not exist.", from);
            int count = TorchCheckpoint.Convert(from, to);
            Console.WriteLine($"Wrote {count} tensors from {from} to {to}.");
            return 0;
        });
        return command;
    }
}
