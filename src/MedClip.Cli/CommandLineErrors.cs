using System.CommandLine;
using System.CommandLine.Parsing;

namespace MedClip.Cli;

/// <summary>Parse errors in the project's words: the option named, the value quoted, what it must be.</summary>
internal static class CommandLineErrors
{
    /// <summary>
    /// System.CommandLine reports a value it cannot convert with the CLR type's name ("System.Nullable`1[System.Double]");
    /// this says "--lr must be a number, not 'abc'." instead. Other errors are already sentences naming the option.
    /// </summary>
    public static string Describe(ParseError error)
    {
        if (error.SymbolResult is not OptionResult { Option: var option } result || !error.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal))
            return error.Message;
        Type type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
        string expected = type == typeof(double) || type == typeof(float) ? "a number"
            : type == typeof(int) || type == typeof(long) ? "a whole number"
            : type == typeof(bool) ? "true or false"
            : $"a {type.Name}";
        string value = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        return $"{option.Name} must be {expected}, not '{value}'.";
    }

    /// <summary>Every string option of every command refuses an empty value ("--out ''"), naming the option.</summary>
    public static void RefuseEmptyValues(Command command)
    {
        foreach (var option in command.Options.Where(o => o.ValueType == typeof(string)))
        {
            option.Validators.Add(result =>
            {
                if (result.Tokens.Any(t => string.IsNullOrWhiteSpace(t.Value)))
                    result.AddError($"{option.Name} must not be empty.");
            });
        }
        foreach (var sub in command.Subcommands) RefuseEmptyValues(sub);
    }
}
