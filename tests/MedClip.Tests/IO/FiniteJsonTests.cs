using System.Text.Json.Nodes;
using MedClip.IO;

namespace MedClip.Tests.IO;

public class FiniteJsonTests
{
    [Fact]
    public void NonFiniteNumbers_BecomeNullWithAReason_AtEveryDepth()
    {
        var node = new JsonObject
        {
            ["loss"] = double.NaN,
            ["step"] = 3,
            ["labels"] = new JsonObject { ["Edema"] = new JsonObject { ["auroc"] = double.PositiveInfinity, ["positives"] = 4 } },
            ["curve"] = new JsonArray(1.0, double.NegativeInfinity, float.NaN),
        };
        string line = FiniteJson.ToLine(node);
        Assert.Equal("{\"loss\":null,\"step\":3,\"labels\":{\"Edema\":{\"auroc\":null,\"positives\":4,\"auroc_undefined_reason\":\"not a finite number (Infinity)\"}}," +
            "\"curve\":[1,null,null],\"loss_undefined_reason\":\"not a finite number (NaN)\"}", line);
    }

    [Fact]
    public void AnExistingReason_IsKept()
    {
        var node = FiniteJson.Sanitize(new JsonObject { ["auroc"] = double.NaN, ["auroc_undefined_reason"] = "only one class" });
        Assert.Equal("only one class", (string?)node["auroc_undefined_reason"]);
    }
}
