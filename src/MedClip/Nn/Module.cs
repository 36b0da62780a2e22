using MedClip.Tensors;

namespace MedClip.Nn;

/// <summary>
/// A tree of named parameters. Names join with '.', so a model's parameter names are exactly Hugging Face's
/// state-dict keys (e.g. encoder.layer.0.attention.self.query.weight).
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor Tensor)> _parameters = [];
    private readonly List<(string Name, Module Module)> _children = [];

    protected Tensor Parameter(string name, Tensor tensor)
    {
        tensor.RequiresGrad = true;
        tensor.Name = name;
        _parameters.Add((name, tensor));
        return tensor;
    }

    protected T Child<T>(string name, T module) where T : Module
    {
        _children.Add((name, module));
        return module;
    }

    /// <summary>
    /// Registers <paramref name="module"/> under a dotted path such as "attention.output.dense", creating (or reusing)
    /// the empty groups on the way, so a layer can mirror whichever HF module tree it loads from.
    /// </summary>
    protected T ChildAt<T>(string path, T module) where T : Module
    {
        var parts = path.Split('.');
        Module parent = this;
        foreach (var part in parts[..^1])
        {
            var existing = parent._children.FirstOrDefault(c => c.Name == part).Module;
            if (existing is null)
            {
                existing = new ModuleGroup();
                parent._children.Add((part, existing));
            }
            parent = existing;
        }
        parent._children.Add((parts[^1], module));
        return module;
    }

    /// <summary>Every parameter with its full dotted name, in registration order.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters(string prefix = "")
    {
        foreach (var (name, tensor) in _parameters) yield return (prefix + name, tensor);
        foreach (var (name, child) in _children)
        {
            foreach (var p in child.NamedParameters(prefix + name + ".")) yield return p;
        }
    }

    public IEnumerable<Tensor> Parameters() => NamedParameters().Select(p => p.Tensor);

    /// <summary>This module and every module below it, depth first.</summary>
    public IEnumerable<Module> Modules()
    {
        yield return this;
        foreach (var (_, child) in _children)
        {
            foreach (var m in child.Modules()) yield return m;
        }
    }

    /// <summary>Drops every accumulated gradient (the next backward starts from zero).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.Grad = null;
    }
}
