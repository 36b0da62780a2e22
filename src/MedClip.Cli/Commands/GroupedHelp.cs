using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Help;

namespace MedClip.Cli.Commands;

/// <summary>
/// Help that lists a command's options one line each, in the sections of <see cref="OptionGroups"/>, each default
/// written once as "(default X)". Subcommands, when there are any, come first with their one-line descriptions.
/// </summary>
internal sealed class GroupedHelp : SynchronousCommandLineAction
{
    private const int NameWidth = 26;

    /// <summary>--help wins over a missing required option, as the built-in help does.</summary>
    public override bool ClearsParseErrors => true;

    public static void Attach(RootCommand root)
    {
        foreach (var help in root.Options.OfType<HelpOption>()) help.Action = new GroupedHelp();
    }

    public override int Invoke(ParseResult parseResult)
    {
        Write(parseResult.CommandResult.Command, Console.Out);
        return 0;
    }

    public static void Write(Command command, TextWriter output)
    {
        string path = string.Join(' ', Ancestors(command).Reverse().Select(c => c is RootCommand ? "medclip-train" : c.Name));
        output.WriteLine(command.Description);
        output.WriteLine();
        output.WriteLine($"Usage: {path}{(command.Subcommands.Count > 0 ? " [command]" : "")} [options]");
        if (command.Subcommands.Count > 0)
        {
            output.WriteLine();
            output.WriteLine("Commands:");
            foreach (var sub in command.Subcommands.Where(c => !c.Hidden))
                output.WriteLine($"  {sub.Name,-12}{FirstSentence(sub.Description)}");
        }
        var options = AllOptions(command).Where(o => !o.Hidden).ToList();
        foreach (string group in OptionGroups.Order)
        {
            var inGroup = options.Where(o => OptionGroups.Of(o).Group == group).ToList();
            if (inGroup.Count == 0) continue;
            output.WriteLine();
            output.WriteLine($"{group}:");
            foreach (var option in inGroup) output.WriteLine(Line(option));
        }
        output.WriteLine();
        output.WriteLine("Details: docs/cli.md (and the pages it links).");
    }

    private static string Line(Option option)
    {
        var entry = OptionGroups.Of(option);
        string value = option is HelpOption || option.ValueType == typeof(bool) ? "" : " " + (entry.Value ?? option.HelpName ?? "X");
        string name = "  " + option.Name + value;
        string description = (option.Description ?? "").TrimEnd('.');
        string? defaultText = entry.Default ?? (option.HasDefaultValue && option.GetDefaultValue() is { } d and not false ? OptionGroups.Format(d) : null);
        if (!string.IsNullOrEmpty(defaultText)) description += $" (default {defaultText})";
        if (option.Required) description += " (required)";
        return name.Length < NameWidth ? name.PadRight(NameWidth) + description : name + "  " + description;
    }

    private static IEnumerable<Option> AllOptions(Command command)
    {
        var seen = new HashSet<string>();
        foreach (var c in Ancestors(command))
        {
            foreach (var option in c.Options)
            {
                if ((c == command || option.Recursive) && seen.Add(option.Name)) yield return option;
            }
        }
    }

    private static IEnumerable<Command> Ancestors(Command command)
    {
        for (Symbol? s = command; s is Command c; s = c.Parents.FirstOrDefault()) yield return c;
    }

    private static string FirstSentence(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        int end = text.IndexOf(". ", StringComparison.Ordinal);
        return end < 0 ? text : text[..(end + 1)];
    }
}
