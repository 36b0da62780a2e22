using MedClip.Backends;
using MedClip.Tensors;

namespace MedClip.Optim;

/// <summary>
/// AdamW with decoupled weight decay (torch.optim.AdamW semantics). Parameters whose decay flag is false (biases,
/// norms, embeddings' position/CLS tokens, logit scale) get no decay. State m and v lives beside each parameter, in the
/// parameter's dtype (F32 master weights and moments under bf16 mixed precision); a parameter's
/// <see cref="Tensor.Bf16Copy"/>, when it has one, is rewritten by the same update.
/// </summary>
public sealed class AdamW
{
    private readonly (string Name, Tensor Parameter, bool Decay, double LearningRateScale, Tensor M, Tensor V)[] _state;

    /// <param name="learningRateScale">Per parameter name, the factor applied to the scheduled learning rate (1 when null).</param>
    public AdamW(IEnumerable<(string Name, Tensor Parameter, bool Decay)> parameters, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.1,
        Func<string, double>? learningRateScale = null)
    {
        _state = parameters.Select(p => (p.Name, p.Parameter, p.Decay, learningRateScale?.Invoke(p.Name) ?? 1.0,
            Tensor.Zeros(p.Parameter.Backend, p.Parameter.Shape, p.Parameter.DType),
            Tensor.Zeros(p.Parameter.Backend, p.Parameter.Shape, p.Parameter.DType))).ToArray();
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }

    /// <summary>Number of updates taken so far (the t of the bias corrections).</summary>
    public int Step { get; private set; }

    /// <summary>First and second moments by parameter name, for checkpoints.</summary>
    public IEnumerable<(string Name, Tensor M, Tensor V)> State => _state.Select(s => (s.Name, s.M, s.V));

    /// <summary>Applies one update with the given learning rate (times each parameter's scale) to every parameter that has a gradient, then clears the gradients.</summary>

    public void Update(double learningRate)
    {
        Step++;
        double bc1 = 1 - Math.Pow(Beta1, Step), bc2 = 1 - Math.Pow(Beta2, Step);
        var updates = new List<AdamWTensor>(_state.Length);
        foreach (var (_, p, decay, scale, m, v) in _state)
        {
            if (p.Grad is null) continue;
            var step = new AdamWStep(learningRate * scale, Beta1, Beta2, Eps, decay ? WeightDecay : 0, bc1, bc2);
            updates.Add(new AdamWTensor(p, p.Grad, m, v, p.Bf16Copy, step));
        }
        // One multi-tensor update (a single kernel launch on CUDA); the same numbers as one AdamW call per parameter.
        if (updates.Count > 0) updates[0].Parameter.Backend.AdamWMultiTensor(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(updates));
        foreach (var u in updates) u.Parameter.Grad = null;
    }

    /// <summary>
    /// The trainer's update: the step count and learning rate (times each parameter's scale) come from the ledger on the
    /// device, and nothing changes when it marks the step skipped; then clears the gradients. The same numbers as
    /// <see cref="Update(double)"/> with the schedule's rate. <see cref="Step"/> is not advanced here: the trainer sets it
    /// (<see cref="RestoreStep"/>) from each read of the ledger.
    /// </summary>
    public void Update(StepLedger ledger)
    {
        var updates = new List<AdamWParameter>(_state.Length);
        foreach (var (_, p, decay, scale, m, v) in _state)
        {
            if (p.Grad is not null) updates.Add(new AdamWParameter(p, p.Grad, m, v, p.Bf16Copy, scale, decay ? WeightDecay : 0));
        }
        if (updates.Count > 0)
            updates[0].Parameter.Backend.AdamWScheduled(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(updates), Beta1, Beta2, Eps, ledger.Ledger, ledger.Schedule);
        foreach (var u in updates) u.Parameter.Grad = null;
    }

    /// <summary>Restores the step count when resuming (moments are restored through <see cref="State"/>).</summary>
    public void RestoreStep(int step) => Step = step;
}
