using MedClip.Tensors;

namespace MedClip.Autograd;

/// <summary>
/// Define-by-run reverse mode: ops attach a <see cref="Node"/> to their output when gradients are on and an input needs
/// one; <see cref="Backward"/> runs the nodes in reverse topological order. Leaf gradients accumulate (+=); the graph is
/// freed afterwards, so a second Backward through it is an error rather than a wrong gradient.
/// </summary>
public static class Tape
{
    /// <summary>True when an op on these inputs must record its backward.</summary>
    public static bool NeedsGrad(params Tensor?[] inputs)
    {
        if (!GradMode.IsEnabled) return false;
        foreach (var t in inputs)
        {
            if (t is { RequiresGrad: true }) return true;
        }
        return false;
    }

    /// <summary>Links <paramref name="output"/> to its inputs when any of them needs a gradient.</summary>
    public static Tensor Record(string op, Tensor output, Tensor?[] inputs, Action<Tensor> backward)
    {
        output.IsOpOutput = true;
        if (!NeedsGrad(inputs)) return output;
        output.RequiresGrad = true;
        output.GradFn = new Node(op, inputs.Where(t => t is not null).Select(t => t!.Slot).ToArray(), backward);
        return output;
    }

    /// <summary>Backpropagates from a one-element tensor (seed gradient 1).</summary>
    public static void Backward(this Tensor loss)
    {
        if (loss.Length != 1)
            throw new InvalidOperationException($"Backward() needs a one-element loss, not {loss.Describe()}; pass a gradient for other tensors.");
        var seed = Tensor.Zeros(loss.Backend, loss.Shape, loss.DType);
        loss.Backend.Fill(seed, 1.0);
        loss.Backward(seed);
    }

    /// <summary>Backpropagates <paramref name="gradient"/> (the gradient of some scalar with respect to this tensor).</summary>
    public static void Backward(this Tensor output, Tensor gradient)
    {
        if (output.GradFn is null)
        {
            throw new InvalidOperationException(output.RequiresGrad
                ? $"Backward() on leaf {output.Describe()}: it was not computed by any recorded op."
                : $"Backward() on {output.Describe()}, which has no graph: no input required a gradient or it was computed under GradMode.Disable().");
        }
        if (gradient.Shape != output.Shape)
            throw new ArgumentException($"Backward(): gradient {gradient.Describe()} does not match output {output.Describe()}.");

        var order = TopologicalOrder(output.Slot);
        output.Backend.Axpy(1.0, gradient, output.GradOrZeros());
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var t = order[i];
            var node = t.GradFn!;
            if (t.Grad is not null) node.RunBackward(t.Grad);
            node.Free();
            t.DropIntermediateGrad(); // intermediate gradients are not kept; leaves keep theirs
        }
    }

    // Slots with a GradFn reachable from root, each after all of its inputs.
    private static List<GradSlot> TopologicalOrder(GradSlot root)
    {
        var order = new List<GradSlot>();
        var visited = new HashSet<GradSlot>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(GradSlot Slot, bool Expanded)>();
        stack.Push((root, false));
        while (stack.Count > 0)
        {
            var (t, expanded) = stack.Pop();
            if (expanded)
            {
                order.Add(t);
                continue;
            }
            if (t.GradFn is null || !visited.Add(t)) continue;
            stack.Push((t, true));
            foreach (var input in t.GradFn.Inputs)
            {
                if (input.GradFn is not null && !visited.Contains(input)) stack.Push((input, false));
            }
        }
        return order;
    }
}
