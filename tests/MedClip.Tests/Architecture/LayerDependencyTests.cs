using System.Text.RegularExpressions;

namespace MedClip.Tests.Architecture;

/// <summary>
/// Dependencies point one way: a namespace of src/ may name its own layer and the layers below it, never one above.
/// Every `using MedClip.X` (static and alias forms too) and every qualified reference (`MedClip.X.Type`, or `X.Type`
/// relative to the enclosing MedClip namespace) counts; comments and string literals do not.
/// </summary>
public sealed partial class LayerDependencyTests
{
    // Bottom to top; namespaces on one line may name each other. A sub-namespace belongs to its nearest listed parent.
    // The core is one layer because a tensor carries its backend and its gradient slot, and ops on the tape call the
    // backend; the concrete backends sit above it, so nothing in the core names the CPU or CUDA implementation.
    private static readonly string[][] Layers =
    [
        ["MedClip.Tensors", "MedClip.Autograd", "MedClip.Backends"],
        ["MedClip.Backends.Cpu", "MedClip.Backends.Cuda"],
        ["MedClip.Distributed"],
        ["MedClip.Nn"],
        ["MedClip.Losses", "MedClip.Optim", "MedClip.IO"],
        ["MedClip.Data"],
        ["MedClip.Models"],
        ["MedClip.Training", "MedClip.Evaluation", "MedClip.Inference"],
        ["MedClip.Diagnostics"],
        ["MedClip.Serve"],
        ["MedClip.Cli"],
    ];

    [Fact]
    public void NoNamespaceNamesALayerAboveIt()
    {
        var violations = new List<string>();
        foreach (var (file, fileNamespace, references) in SourceFiles())
        {
            int own = LayerOf(fileNamespace) ?? throw new InvalidOperationException(
                $"{file}: namespace {fileNamespace} has no layer; place it in LayerDependencyTests.Layers.");
            foreach (string reference in references)
            {
                if (LayerOf(reference) is int layer && layer > own)
                    violations.Add($"{file}: {fileNamespace} (layer {own}) names {reference} (layer {layer})");
            }
        }
        Assert.True(violations.Count == 0, string.Join("\n", violations));
    }

    [Fact]
    public void FindsReferencesInEveryForm()
    {
        const string source = """
            using MedClip.Tensors;
            using static MedClip.Training.TrainerState;
            using Run = MedClip.Evaluation.EvaluationRun;
            namespace MedClip.Nn;
            // MedClip.Cli in a comment does not count, nor "MedClip.Diagnostics" in a string.
            class C { object a = Models.DualEncoder.Create(); object b = global::MedClip.Data.CsvTable.Read(); int c = x.Inference.Count; }
            """;
        var (fileNamespace, references) = Parse(source);
        Assert.Equal("MedClip.Nn", fileNamespace);
        Assert.Equal(["MedClip.Data.CsvTable.Read", "MedClip.Evaluation.EvaluationRun", "MedClip.Models.DualEncoder.Create",
            "MedClip.Tensors", "MedClip.Training.TrainerState"], references.Order());
        Assert.Equal(5, LayerOf("MedClip.Data.Text.Tokenizer"));
        Assert.Null(LayerOf("System.Text"));
    }

    // Every namespace and type the library declares, so that `Data.Span` (a property) is told from `Data.CsvTable`.
    private static readonly Lazy<HashSet<string>> DeclaredNames = new(() =>
    {
        var names = new HashSet<string>();
        foreach (var type in typeof(MedClip.Tensors.Tensor).Assembly.GetTypes())
        {
            names.Add(type.FullName!.Replace('+', '.').Split('`')[0]);
            string? ns = type.Namespace;
            for (; !string.IsNullOrEmpty(ns); ns = ns.Contains('.') ? ns[..ns.LastIndexOf('.')] : null)
                names.Add(ns);
        }
        return names;
    });

    private static int? LayerOf(string name)
    {
        int? best = null;
        int bestLength = -1;
        for (int layer = 0; layer < Layers.Length; layer++)
        {
            foreach (string ns in Layers[layer])
            {
                if ((name == ns || name.StartsWith(ns + ".", StringComparison.Ordinal)) && ns.Length > bestLength)
                    (best, bestLength) = (layer, ns.Length);
            }
        }
        return best;
    }

    private static IEnumerable<(string File, string Namespace, IReadOnlyCollection<string> References)> SourceFiles()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "MedClip.sln"))) root = root.Parent;
        Assert.NotNull(root);
        string src = Path.Combine(root.FullName, "src");
        var files = Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            .ToList();
        Assert.True(files.Count > 100, $"found only {files.Count} source files under {src}");
        foreach (string file in files)
        {
            var (fileNamespace, references) = Parse(File.ReadAllText(file));
            // Top-level statements (Program.cs) live in their project's namespace.
            if (fileNamespace.Length == 0) fileNamespace = Path.GetRelativePath(src, file).Split(Path.DirectorySeparatorChar)[0];
            yield return (Path.GetRelativePath(root.FullName, file), fileNamespace, references);
        }
    }

    private static (string Namespace, IReadOnlyCollection<string> References) Parse(string source)
    {
        string code = CommentsAndStrings().Replace(source, match => match.Value.StartsWith('/') ? " " : "\"\"");
        string fileNamespace = NamespaceDeclaration().Match(code).Groups[1].Value;
        var references = new HashSet<string>();
        foreach (Match m in UsingDirective().Matches(code))
            references.Add(m.Groups[1].Value);
        string body = UsingDirective().Replace(NamespaceDeclaration().Replace(code, ""), "");
        foreach (Match m in QualifiedName().Matches(body))
        {
            string name = m.Groups[1].Value;
            if (name.StartsWith("MedClip.", StringComparison.Ordinal))
                references.Add(name);
            else if (DeclaredNames.Value.Contains("MedClip." + string.Join('.', name.Split('.').Take(2))))
                references.Add("MedClip." + name);
        }
        return (fileNamespace, references);
    }

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/|@""(?:[^""]|"""")*""|""""""[\s\S]*?""""""|""(?:\\.|[^""\\\n])*""|'(?:\\.|[^'\\\n])+'", RegexOptions.Singleline)]
    private static partial Regex CommentsAndStrings();

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    [GeneratedRegex(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?(?:global::)?(MedClip(?:\.\w+)*)\s*;", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();

    // A dotted name not preceded by a member access: `MedClip.X.Y`, `global::MedClip.X`, or `X.Y` relative to MedClip.
    [GeneratedRegex(@"(?<![\w.])(?:global::)?([A-Z]\w*(?:\.[A-Z]\w*)+)")]
    private static partial Regex QualifiedName();
}
