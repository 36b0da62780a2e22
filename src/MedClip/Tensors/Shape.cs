using System.Runtime.CompilerServices;

namespace MedClip.Tensors;

/// <summary>An immutable, row-major tensor shape. A rank-0 shape is a scalar with one element.</summary>
[CollectionBuilder(typeof(Shape), nameof(Create))]
public readonly struct Shape : IEquatable<Shape>
{
    private readonly int[]? _dims;

    public Shape(params int[] dims)
    {
        foreach (var d in dims)
        {
            if (d < 0) throw new ArgumentException($"Shape {Format(dims)} has a negative dimension.");
        }
        _dims = (int[])dims.Clone();
    }

    public static Shape Create(ReadOnlySpan<int> dims) => new(dims.ToArray());

    public ReadOnlySpan<int>.Enumerator GetEnumerator() => Dims.GetEnumerator();

    public int Rank => _dims?.Length ?? 0;
    public int this[int axis] => Dims[axis < 0 ? Rank + axis : axis];
    public ReadOnlySpan<int> Dims => _dims ?? [];

    public long Elements
    {
        get
        {
            long n = 1;
            foreach (var d in Dims) n *= d;
            return n;
        }
    }

    /// <summary>The last dimension (1 for a scalar).</summary>
    public int Last => Rank == 0 ? 1 : this[-1];

    /// <summary>Product of all dimensions but the last: the row count when viewed as a matrix.</summary>
    public long Rows => Rank == 0 ? 1 : Elements / Math.Max(1, Last);

    public int[] ToArray() => Dims.ToArray();

    public bool Equals(Shape other) => Dims.SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in Dims) h.Add(d);
        return h.ToHashCode();
    }
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);
    public override string ToString() => Format(Dims);

    private static string Format(ReadOnlySpan<int> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";

    public static implicit operator Shape(int[] dims) => new(dims);
}
