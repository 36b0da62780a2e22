namespace MedClip.Backends.Cpu;

/// <summary>
/// Splits row loops over the cores when there is enough work to pay for the hand-off. The split depends only on the
/// sizes and the core count, so reductions that combine per-task partials in task order are deterministic. The tasks are
/// finer than the cores (for balance) and run on <see cref="CpuWorkers"/>: one thread per core.
/// </summary>
internal static class CpuParallel
{
    // Below this many element-operations a loop stays on the calling thread.
    private const long MinWorkPerTask = 1 << 15;

    /// <summary>Calls body(task, start, end) over disjoint row ranges covering [0, rows); returns the task count.</summary>
    public static int ForTasks(int rows, long workPerRow, Action<int, int, int> body)
    {
        long total = rows * Math.Max(1, workPerRow);
        int tasks = (int)Math.Min(Math.Min(rows, Environment.ProcessorCount * 4L), Math.Max(1, total / MinWorkPerTask));
        if (tasks <= 1)
        {
            body(0, 0, rows);
            return 1;
        }
        CpuWorkers.For(tasks, i => body(i, (int)((long)rows * i / tasks), (int)((long)rows * (i + 1) / tasks)));
        return tasks;
    }

    /// <summary>Calls body(start, end) over disjoint row ranges covering [0, rows).</summary>
    public static void ForRows(int rows, long workPerRow, Action<int, int> body) =>
        ForTasks(rows, workPerRow, (_, start, end) => body(start, end));

    // Flat loops hand each task a run of whole chunks of this many elements. ForElements and ReduceElements cut a length
    // into the same runs, so a fused op on one and the unfused op on the other call their vector kernels on the same
    // spans, which matters where a result depends on a span's length (TensorPrimitives computes a span shorter than a
    // vector without vectors, to other roundings).
    private const int ElementChunk = 1 << 14;

    /// <summary>Calls body(start, end) over disjoint chunks of a flat range of elements.</summary>
    public static void ForElements(long length, Action<int, int> body) =>
        ForRows(Chunks(length), ElementChunk, (first, last) => body(first * ElementChunk, ChunkEnd(length, last)));

    /// <summary>
    /// <see cref="ReduceRows{T}"/> over the chunks of <see cref="ForElements"/>: body(start, end, partials) gets the same
    /// element ranges as a ForElements loop over <paramref name="length"/>.
    /// </summary>
    public static void ReduceElements<T>(long length, int width, T[][] targets, Action<int, int, T[][]> body)
        where T : unmanaged, System.Numerics.INumber<T> =>
        ReduceRows<T>(Chunks(length), ElementChunk, width, targets,
            (first, last, partials) => body(first * ElementChunk, ChunkEnd(length, last), partials));

    private static int Chunks(long length) => (int)((length + ElementChunk - 1) / ElementChunk);

    private static int ChunkEnd(long length, int chunk) => (int)Math.Min(length, (long)chunk * ElementChunk);

    /// <summary>
    /// Runs body(start, end, partials) with a zeroed partial buffer of <paramref name="width"/> per task and adds
    /// the partials into <paramref name="target"/> in task order (deterministic, unlike a lock).
    /// </summary>
    public static void ReduceRows<T>(int rows, long workPerRow, int width, T[][] targets, Action<int, int, T[][]> body)
        where T : unmanaged, System.Numerics.INumber<T>
    {
        var partials = new T[Environment.ProcessorCount * 4 + 1][][];
        int tasks = ForTasks(rows, workPerRow, (task, start, end) =>
        {
            var local = new T[targets.Length][];
            for (int i = 0; i < local.Length; i++) local[i] = new T[width];
            body(start, end, local);
            partials[task] = local;
        });
        for (int task = 0; task < tasks; task++)
        {
            for (int i = 0; i < targets.Length; i++)
            {
                var dst = targets[i].AsSpan(0, width);
                System.Numerics.Tensors.TensorPrimitives.Add<T>(partials[task][i], dst, dst);
            }
        }
    }
}
