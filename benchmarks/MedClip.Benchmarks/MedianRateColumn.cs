using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace MedClip.Benchmarks;

/// <summary>A custom summary column computed from each benchmark case's median time per operation (GFLOP/s, GB/s, ...).</summary>
internal abstract class MedianRateColumn(string columnName, string legend, bool isNumeric) : IColumn
{
    public string Id => GetType().Name;
    public string ColumnName => columnName;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => isNumeric;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => legend;
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
        summary[benchmarkCase]?.ResultStatistics?.Median is double medianNs ? Rate(benchmarkCase, medianNs) : "NA";

    /// <summary>The cell for a case whose median time per operation is <paramref name="medianNs"/> nanoseconds.</summary>
    protected abstract string Rate(BenchmarkCase benchmarkCase, double medianNs);
}
