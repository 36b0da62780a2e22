using System.Text.Json.Nodes;

namespace MedClip.Training;

/// <summary>Where a run's logged metrics go: one JSON object per logged step, with a "step" and named values.</summary>
public interface IMetricsSink : IDisposable
{
    void Write(JsonObject line);
}
