using System.Reflection;
using System.Text.RegularExpressions;
using MedClip.Backends.Cuda;
using MedClip.Tensors;

namespace MedClip.Tests.Backends.Cuda;

/// <summary>
/// The generated kernel handles (src/MedClip/Backends/Cuda/Kernels.g.cs) against the kernels' own declarations, read
/// here from the embedded kernels/*.cu: each extern "C" __global__ entry point has a handle with its parameters' C#
/// types and names in order, which packs them in that order for that file and kernel; every other method is a family
/// that calls one of them with the scalars in that kernel's precision. A failure here means a kernel's signature
/// changed without a rerun of `/usr/bin/python3 tools/cuda/make_kernel_handles.py`.
/// </summary>
public sealed partial class KernelHandleTests
{
    private const string Regenerate = "rerun /usr/bin/python3 tools/cuda/make_kernel_handles.py";

    private static readonly Dictionary<string, Type> Scalars = new()
    {
        ["int"] = typeof(int),
        ["unsigned int"] = typeof(uint),
        ["unsigned"] = typeof(uint),
        ["long long"] = typeof(long),
        ["unsigned long long"] = typeof(ulong),
        ["float"] = typeof(float),
        ["double"] = typeof(double),
    };

    private sealed record Declared(string File, string Name, IReadOnlyList<(Type Type, string Name)> Parameters);

    [Fact]
    public void EveryKernel_HasAHandleWithItsDeclaredParameters()
    {
        var failures = new List<string>();
        var declarations = Declarations();
        Assert.Contains(declarations, d => d.Name == "layernorm_forward_f32"); // the sources were read
        foreach (var kernel in declarations)
        {
            var handle = Methods(kernel.File).FirstOrDefault(m => m.Name == Pascal(kernel.Name));
            if (handle is null)
            {
                failures.Add($"kernels/{kernel.File}: {kernel.Name} has no handle {Pascal(kernel.Name)}");
                continue;
            }
            var parameters = handle.GetParameters().Select(p => (p.ParameterType, p.Name!)).ToList();
            if (!parameters.SequenceEqual(kernel.Parameters))
            {
                failures.Add($"kernels/{kernel.File}: {kernel.Name} declares ({Describe(kernel.Parameters)}) but its handle takes ({Describe(parameters)})");
                continue;
            }
            var values = SampleValues(kernel.Parameters.Select(p => p.Type));
            var call = (KernelCall)handle.Invoke(null, values)!;
            if (call.File != kernel.File || call.Kernel != kernel.Name || !Arguments(call).SequenceEqual(values.Select(Bits)))
                failures.Add($"kernels/{kernel.File}: {kernel.Name}'s handle launches {call.Kernel} of {call.File} or packs its arguments out of order");
        }
        Assert.True(failures.Count == 0, $"{string.Join("\n", failures)}\n{Regenerate}.");
    }

    [Fact]
    public void EveryOtherMethod_IsAFamilyThatPicksAKernelOfItsFile()
    {
        var failures = new List<string>();
        var files = KernelCompiler.KernelFiles().Select(ClassName).ToHashSet();
        failures.AddRange(typeof(Kernels).GetNestedTypes(BindingFlags.NonPublic | BindingFlags.Public).Where(t => !files.Contains(t.Name))
            .Select(t => $"Kernels.{t.Name} is left from a kernel file that is gone"));
        foreach (var (file, kernels) in Declarations().GroupBy(d => d.File).Select(g => (g.Key, g.ToDictionary(d => d.Name))))
        {
            var handles = kernels.Keys.Select(Pascal).ToHashSet();
            foreach (var family in Methods(file).Where(m => !handles.Contains(m.Name)))
            {
                var problem = CheckFamily(family, kernels);
                if (problem is not null) failures.Add($"Kernels.{family.DeclaringType!.Name}.{family.Name}: {problem}");
            }
        }
        Assert.True(failures.Count == 0, $"{string.Join("\n", failures)}\n{Regenerate}.");
    }

    [Fact]
    public void Family_PassesItsScalarInThePrecisionOfTheKernelItPicks()
    {
        var x = new DevicePointer(64);
        var f32 = Kernels.ElementwiseCu.Scale(DType.F32, x, 0.1, 5);
        var f64 = Kernels.ElementwiseCu.Scale(DType.F64, x, 0.1, 5);
        Assert.Equal(("scale_f32", "scale_f64"), (f32.Kernel, f64.Kernel));
        Assert.Equal(new ulong[] { 64, BitConverter.SingleToUInt32Bits(0.1f), 5 }, Arguments(f32));
        Assert.Equal(new ulong[] { 64, BitConverter.DoubleToUInt64Bits(0.1), 5 }, Arguments(f64));
        var e = Assert.Throws<NotSupportedException>(() => Kernels.ElementwiseCu.Scale(DType.BF16, x, 0.1, 5));
        Assert.Equal("kernels/elementwise.cu has no scale_{dtype} kernel for BF16.", e.Message);
    }

    // A family's leading parameters select the kernel (a DType per dtype token, an int dim per dimension token); for every
    // choice that it accepts, the kernel must be one of its file's whose name carries the choice, called with the family's
    // remaining parameters (float where the family takes double and the kernel float).
    private static string? CheckFamily(MethodInfo family, IReadOnlyDictionary<string, Declared> kernels)
    {
        var parameters = family.GetParameters();
        int selectors = parameters.TakeWhile(p => p.ParameterType == typeof(DType) || p.ParameterType == typeof(int) && p.Name!.StartsWith("dim", StringComparison.Ordinal)).Count();
        if (selectors == 0) return "names no kernel of its file and selects none (a handle left from a removed kernel?)";
        var rest = parameters.Skip(selectors).Select(p => (p.ParameterType, p.Name!)).ToList();
        var picked = new HashSet<string>();
        foreach (var choice in Choices(parameters.Take(selectors).Select(p => p.ParameterType)))
        {
            var restValues = SampleValues(rest.Select(p => p.ParameterType));
            KernelCall call;
            try
            {
                call = (KernelCall)family.Invoke(null, [.. choice, .. restValues])!;
            }
            catch (TargetInvocationException e) when (e.InnerException is NotSupportedException)
            {
                continue;
            }
            if (!kernels.TryGetValue(call.Kernel, out var kernel)) return $"picks {call.Kernel}, which is not declared";
            if (!CarriesChoice(kernel.Name, choice)) return $"picks {kernel.Name} for ({string.Join(", ", choice)})";
            if (rest.Count != kernel.Parameters.Count) return $"takes {rest.Count} parameters after its selectors, {kernel.Name} {kernel.Parameters.Count}";
            for (int i = 0; i < rest.Count; i++)
            {
                var (declaredType, declaredName) = kernel.Parameters[i];
                var (type, name) = rest[i];
                bool widened = type == typeof(double) && declaredType == typeof(float);
                if (name != declaredName || type != declaredType && !widened)
                    return $"parameter {type.Name} {name} is {declaredType.Name} {declaredName} in {kernel.Name}";
                if (widened) restValues[i] = (float)(double)restValues[i];
            }
            if (!Arguments(call).SequenceEqual(restValues.Select(Bits))) return $"packs {kernel.Name}'s arguments out of order or in the wrong precision";
            picked.Add(kernel.Name);
        }
        return picked.Count >= 2 ? null : $"picks {picked.Count} kernel(s); a family picks among two or more";
    }

    private static bool CarriesChoice(string kernel, object[] choice)
    {
        var tokens = kernel.Split('_');
        int at = 0;
        foreach (var value in choice)
        {
            string token = value is DType dtype ? dtype.ToString().ToLowerInvariant() : $"d{value}";
            while (at < tokens.Length && tokens[at] != token) at++;
            if (at++ == tokens.Length) return false;
        }
        return true;
    }

    private static IEnumerable<object[]> Choices(IEnumerable<Type> selectors)
    {
        IEnumerable<object[]> choices = [[]];
        foreach (var type in selectors)
        {
            var values = type == typeof(DType) ? Enum.GetValues<DType>().Cast<object>() : new[] { 4, 8, 16, 32, 64, 128 }.Cast<object>();
            choices = [.. choices.SelectMany(c => values.Select(v => c.Append(v).ToArray()))];
        }
        return choices;
    }

    private static IReadOnlyList<Declared> Declarations() =>
        [.. KernelCompiler.KernelFiles().SelectMany(file => Declaration().Matches(KernelCompiler.KernelSource(file)).Select(match =>
            new Declared(file, match.Groups[1].Value, ParseParameters(file, match.Groups[1].Value, match.Groups[2].Value))))];

    private static IReadOnlyList<(Type, string)> ParseParameters(string file, string kernel, string text)
    {
        text = text.Trim();
        if (text.Length == 0 || text == "void") return [];
        return [.. text.Split(',').Select(p =>
        {
            var match = Parameter().Match(Regex.Replace(p.Trim(), @"\s+", " "));
            Assert.True(match.Success, $"kernels/{file}: {kernel}: cannot read the parameter '{p.Trim()}'.");
            string type = match.Groups["type"].Value.Trim();
            Assert.True(match.Groups["pointer"].Success || Scalars.ContainsKey(type),
                $"kernels/{file}: {kernel}: '{p.Trim()}' has a type with no C# mapping; add it here and in tools/cuda/make_kernel_handles.py.");
            return (match.Groups["pointer"].Success ? typeof(DevicePointer) : Scalars[type], Camel(match.Groups["name"].Value));
        })];
    }

    private static IEnumerable<MethodInfo> Methods(string file)
    {
        var handles = typeof(Kernels).GetNestedType(ClassName(file), BindingFlags.NonPublic | BindingFlags.Public);
        Assert.True(handles is not null, $"kernels/{file} has no class Kernels.{ClassName(file)}; {Regenerate}.");
        return handles.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.ReturnType == typeof(KernelCall));
    }

    // Distinct values per position, so that a swapped argument shows.
    private static object[] SampleValues(IEnumerable<Type> types) => [.. types.Select(Sample)];

    private static object Sample(Type type, int i)
    {
        if (type == typeof(DevicePointer)) return new DevicePointer(0x1000UL + (ulong)i);
        if (type == typeof(int)) return i + 3;
        if (type == typeof(uint)) return (uint)(i + 5);
        if (type == typeof(long)) return (1L << 33) + i;
        if (type == typeof(ulong)) return (1UL << 40) + (ulong)i;
        if (type == typeof(float)) return i + 0.1f;
        if (type == typeof(double)) return i + 0.1;
        throw new ArgumentException($"No kernel parameter is a {type.Name}.");
    }

    private static ulong Bits(object value) => value switch
    {
        DevicePointer p => ((KernelArg)p).Bits,
        int v => ((KernelArg)v).Bits,
        uint v => ((KernelArg)v).Bits,
        long v => ((KernelArg)v).Bits,
        ulong v => ((KernelArg)v).Bits,
        float v => ((KernelArg)v).Bits,
        double v => ((KernelArg)v).Bits,
        _ => throw new ArgumentException($"No kernel parameter is a {value.GetType().Name}."),
    };

    private static ulong[] Arguments(KernelCall call)
    {
        var arguments = new KernelArg[KernelCall.MaxArguments];
        call.CopyArguments(arguments);
        return [.. arguments.Take(call.Count).Select(a => a.Bits)];
    }

    private static string Describe(IEnumerable<(Type Type, string Name)> parameters) =>
        string.Join(", ", parameters.Select(p => $"{p.Type.Name} {p.Name}"));

    // layernorm.cu -> LayernormCu.
    private static string ClassName(string file) => Pascal(file.Replace('.', '_'));

    private static string Pascal(string snake) => string.Concat(snake.Split('_').Select(t => t.Length == 0 ? t : char.ToUpperInvariant(t[0]) + t[1..]));

    private static string Camel(string snake)
    {
        string pascal = Pascal(snake);
        return char.ToLowerInvariant(pascal[0]) + pascal[1..];
    }

    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)")]
    private static partial Regex Declaration();

    [GeneratedRegex(@"^(?:const\s+)?(?<type>[A-Za-z_][\w ]*?)\s*(?<pointer>\*)?\s*(?<name>\w+)$")]
    private static partial Regex Parameter();
}
