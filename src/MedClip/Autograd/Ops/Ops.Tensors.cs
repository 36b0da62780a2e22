using MedClip.Tensors;

namespace MedClip.Autograd;

/// <summary>
/// Differentiable ops. Each computes its forward on the inputs' backend and records, next to it, the backward closure
/// that adds the input gradients (+=). Shape errors name the op and the shapes involved.
/// </summary>
public static partial class Ops
{
    /// <summary>The same elements under another shape.</summary>
    public static Tensor Reshape(Tensor x, Shape shape)
    {
        Require(shape.Elements == x.Length, $"Reshape: cannot view {x.Describe()} ({x.Length} elements) as {shape}.");
        var y = new Tensor(x.Storage, shape);
        var (slot, be) = (x.Slot, x.Backend);
        return Tape.Record("Reshape", y, [x], dy => be.Axpy(1, dy, slot.GradOrZeros()));
    }

    /// <summary>y = alpha*a + beta*b for tensors of one shape.</summary>
    public static Tensor Add(Tensor a, Tensor b, double alpha = 1, double beta = 1)
    {
        SameShape("Add", a, b);
        var y = EmptyLike(a);
        a.Backend.AddScaled(a, alpha, b, beta, y);
        return RecordAdd(y, a, b, alpha, beta);
    }

    // Records y = alpha*a + beta*b: da += alpha*dy, db += beta*dy. The backward reads no values: it holds the slots.
    private static Tensor RecordAdd(Tensor y, Tensor a, Tensor b, double alpha, double beta)
    {
        var (slotA, slotB, be) = (a.Slot, b.Slot, a.Backend);
        return Tape.Record("Add", y, [a, b], dy =>
        {
            if (slotA.RequiresGrad) be.Axpy(alpha, dy, slotA.GradOrZeros());
            if (slotB.RequiresGrad) be.Axpy(beta, dy, slotB.GradOrZeros());
        });
    }

    /// <summary>Reorders axes: y's axis i is x's axis perm[i].</summary>
    public static Tensor Permute(Tensor x, params int[] perm)
    {
        Require(perm.Length == x.Rank && perm.Order().SequenceEqual(Enumerable.Range(0, x.Rank)),
            $"Permute: ({string.Join(", ", perm)}) is not a permutation of the axes of {x.Describe()}.");
        var dims = x.Shape.ToArray();
        var y = Tensor.Empty(x.Backend, perm.Select(p => dims[p]).ToArray(), x.DType);
        x.Backend.Permute(x, y, dims, perm, accumulate: false);
        var (slot, be, permuted) = (x.Slot, x.Backend, y.Shape.ToArray());
        return Tape.Record("Permute", y, [x], dy =>
        {
            var inverse = new int[perm.Length];
            for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
            be.Permute(dy, slot.GradOrZeros(), permuted, inverse, accumulate: true);
        });
    }

    /// <summary>Token <paramref name="index"/> of each sequence: [B, T, D] -> [B, D] (CLS pooling).</summary>
    public static Tensor SelectToken(Tensor x, int index)
    {
        Require(x.Rank == 3 && index >= 0 && index < x.Shape[1], $"SelectToken: token {index} of {x.Describe()} (expected [batch, tokens, width]).");
        int batch = x.Shape[0], tokens = x.Shape[1], width = x.Shape[2];
        var y = Tensor.Zeros(x.Backend, [batch, width], x.DType);
        x.Backend.CopyBlocks(x, (long)index * width, (long)tokens * width, y, 0, width, width, batch, accumulate: false);
        var (slot, be) = (x.Slot, x.Backend);
        return Tape.Record("SelectToken", y, [x], dy =>
            be.CopyBlocks(dy, 0, width, slot.GradOrZeros(), (long)index * width, (long)tokens * width, width, batch, accumulate: true));
    }

    /// <summary>
    /// One token of each sequence, a different one per sequence: [B, T, D] -> [B, D], row b = x[b, positions[b]] (CLIP's
    /// end-of-text pooling). A gather of the rows of x viewed as a [B*T, D] table; the backward scatter-adds dy into them.
    /// </summary>
    public static Tensor SelectTokens(Tensor x, IReadOnlyList<int> positions)
    {
        Require(x.Rank == 3 && positions.Count == x.Shape[0] && positions.All(p => p >= 0 && p < x.Shape[1]),
            $"SelectTokens: positions [{string.Join(", ", positions)}] do not pick one token of each sequence of {x.Describe()}.");
        int batch = x.Shape[0], tokens = x.Shape[1], width = x.Shape[2];
        var be = x.Backend;
        var rows = Tensor.FromArray(be, [batch], positions.Select((p, b) => b * tokens + p).ToArray());
        var y = Tensor.Zeros(be, [batch, width], x.DType);
        be.EmbeddingForward(x, rows, y, batch, batch * tokens, width);
        var slot = x.Slot;
        return Tape.Record("SelectTokens", y, [x], dy => be.EmbeddingBackward(dy, rows, slot.GradOrZeros(), batch, batch * tokens, width));
    }

    /// <summary>Prepends one learned token to every sequence: token [D] (any shape of D elements), x [B, N, D] -> [B, N+1, D].</summary>
    public static Tensor PrependToken(Tensor token, Tensor x)
    {
        Require(x.Rank == 3 && token.Length == x.Shape[2], $"PrependToken: token {token.Describe()} does not fit sequences {x.Describe()}.");
        int batch = x.Shape[0], n = x.Shape[1], width = x.Shape[2];
        long rowStride = (long)(n + 1) * width;
        var y = Tensor.Empty(x.Backend, [batch, n + 1, width], x.DType);
        x.Backend.CopyBlocks(token, 0, 0, y, 0, rowStride, width, batch, accumulate: false);
        x.Backend.CopyBlocks(x, 0, (long)n * width, y, width, rowStride, n * width, batch, accumulate: false);
        var (xSlot, tokenSlot, be, dtype) = (x.Slot, token.Slot, x.Backend, x.DType);
        return Tape.Record("PrependToken", y, [token, x], dy =>
        {
            if (xSlot.RequiresGrad)
                be.CopyBlocks(dy, width, rowStride, xSlot.GradOrZeros(), 0, (long)n * width, n * width, batch, accumulate: true);
            if (tokenSlot.RequiresGrad)
            {
                // d token = sum over the batch of dy[b, 0, :]: gather the rows, then reduce them like a bias gradient.
                var rows = Tensor.Zeros(be, [batch, width], dtype);
                be.CopyBlocks(dy, 0, rowStride, rows, 0, width, width, batch, accumulate: false);
                be.BiasBackward(rows, tokenSlot.GradOrZeros(), batch, width);
            }
        });
    }

    /// <summary>Image [B, C, H, W] to patch rows [B, (H/P)*(W/P), C*P*P], each row ordered (c, py, px) like a Conv2d kernel.</summary>
    public static Tensor Patchify(Tensor pixels, int patch)
    {
        Require(pixels.Rank == 4 && pixels.Shape[2] % patch == 0 && pixels.Shape[3] % patch == 0,
            $"Patchify: image {pixels.Describe()} is not [batch, channels, height, width] with sides divisible by the patch size {patch}.");
        int b = pixels.Shape[0], c = pixels.Shape[1], gh = pixels.Shape[2] / patch, gw = pixels.Shape[3] / patch;
        var split = Reshape(pixels, [b, c, gh, patch, gw, patch]);
        var patches = Permute(split, 0, 2, 4, 1, 3, 5);
        return Reshape(patches, [b, gh * gw, c * patch * patch]);
    }

    internal static void Require(bool condition, string message)
    {
        if (!condition) throw new ArgumentException(message);
    }

    internal static void SameShape(string op, Tensor a, Tensor b) =>
        Require(a.Shape == b.Shape && a.DType == b.DType, $"{op}: {a.Describe()} and {b.Describe()} differ in shape or dtype.");

    internal static Tensor Like(Tensor x) => Tensor.Zeros(x.Backend, x.Shape, x.DType);

    // An output of x's shape and dtype that the op writes whole.
    internal static Tensor EmptyLike(Tensor x) => Tensor.Empty(x.Backend, x.Shape, x.DType);
}
