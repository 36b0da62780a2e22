using System.Numerics.Tensors;

namespace MedClip.Evaluation;

/// <summary>
/// Binary logistic regression with an L2 penalty on the weights (not the intercept), fitted by Newton's method in
/// double: minimise sum_i log(1 + exp(-s_i (w.x_i + b))) + (lambda / 2) |w|^2 with s_i = +-1. This is scikit-learn's
/// LogisticRegression(C = 1 / lambda) objective, so the optimum matches its solvers'. Deterministic: no randomness,
/// and the sums run in a fixed order.
/// </summary>
public sealed class LogisticRegression
{
    private LogisticRegression(double[] weights, double intercept, int iterations)
    {
        Weights = weights;
        Intercept = intercept;
        Iterations = iterations;
    }

    /// <summary>Newton decrement, relative to 1 + the objective, at which the fit takes its last, full step.</summary>
    public const double ConvergedDecrement = 1e-9;

    public double[] Weights { get; }
    public double Intercept { get; }
    public int Iterations { get; }

    /// <summary>P(positive | x) = sigmoid(w.x + b).</summary>
    public double Probability(ReadOnlySpan<double> x)
    {
        double z = Intercept;
        for (int j = 0; j < Weights.Length; j++) z += Weights[j] * x[j];
        return Sigmoid(z);
    }

    /// <param name="features">Row-major [n, d].</param>
    public static LogisticRegression Fit(double[] features, bool[] positive, int dimension, double lambda, int maxIterations = 100)
    {
        int n = positive.Length, d = dimension, p = d + 1; // parameter p - 1 is the intercept
        if (features.Length != n * d) throw new ArgumentException("Features are not n x d.");
        if (!positive.Contains(true) || !positive.Contains(false)) throw new ArgumentException("Logistic regression needs both classes.");
        var theta = new double[p];
        double objective = Objective(features, positive, d, lambda, theta);
        var gradient = new double[p];
        var hessian = new double[p * p];
        var row = new double[p];
        row[d] = 1; // the intercept's constant input
        for (int iteration = 1; iteration <= maxIterations; iteration++)
        {
            // g = X^T (prob - y) + lambda w;  H = X^T diag(prob (1 - prob)) X + lambda I (no penalty on the intercept);
            // only H's lower triangle is accumulated.
            Array.Clear(gradient);
            Array.Clear(hessian);
            for (int i = 0; i < n; i++)
            {
                features.AsSpan(i * d, d).CopyTo(row);
                double prob = Sigmoid(Linear(row.AsSpan(0, d), theta)), residual = prob - (positive[i] ? 1 : 0), weight = prob * (1 - prob);
                TensorPrimitives.MultiplyAdd(row, residual, gradient, gradient);
                for (int a = 0; a < p; a++)
                {
                    var lower = hessian.AsSpan(a * p, a + 1);
                    TensorPrimitives.MultiplyAdd(row.AsSpan(0, a + 1), weight * row[a], lower, lower);
                }
            }
            for (int a = 0; a < d; a++)
            {
                gradient[a] += lambda * theta[a];
                hessian[a * p + a] += lambda;
            }
            var step = CholeskySolve(hessian, gradient, p);
            // Half the Newton decrement g^T H^-1 g estimates how far the objective is above its minimum. Below 1e-9 of
            // the objective theta is well inside Newton's quadratic range, so the full step lands on the minimum to
            // double precision; a line search could not work there anyway, since rounding in the objective's n terms
            // is then larger than the decrease it would have to see.
            double decrement = TensorPrimitives.Dot(gradient, step) / 2;
            if (decrement < ConvergedDecrement * (1 + objective))
            {
                TensorPrimitives.Subtract(theta, step, theta);
                return new LogisticRegression(theta[..d], theta[d], iteration);
            }
            // Backtracking (Armijo): the full Newton step near the optimum, halved while it does not descend enough.
            var candidate = new double[p];
            for (double t = 1; ; t /= 2)
            {
                if (t < 1e-12) throw new InvalidOperationException("Logistic regression line search failed to descend.");
                for (int a = 0; a < p; a++) candidate[a] = theta[a] - t * step[a];
                double next = Objective(features, positive, d, lambda, candidate);
                // Strictly lower: a step too small to change the objective in double is no progress.
                if (next < objective && next <= objective - 1e-4 * t * 2 * decrement)
                {
                    theta = candidate;
                    objective = next;
                    break;
                }
            }
        }
        throw new InvalidOperationException($"Logistic regression did not converge in {maxIterations} Newton iterations.");
    }

    private static double Objective(double[] features, bool[] positive, int d, double lambda, double[] theta)
    {
        double loss = 0;
        for (int i = 0; i < positive.Length; i++)
        {
            double z = Linear(features.AsSpan(i * d, d), theta);
            // log(1 + exp(-s z)) computed without overflow
            double m = positive[i] ? -z : z;
            loss += m > 0 ? m + Math.Log(1 + Math.Exp(-m)) : Math.Log(1 + Math.Exp(m));
        }
        double penalty = 0;
        for (int a = 0; a < d; a++) penalty += theta[a] * theta[a];
        return loss + lambda / 2 * penalty;
    }

    private static double Linear(ReadOnlySpan<double> x, double[] theta)
    {
        double z = theta[x.Length];
        for (int j = 0; j < x.Length; j++) z += theta[j] * x[j];
        return z;
    }

    private static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    /// <summary>Solves H s = g for symmetric positive definite H given by its lower triangle (row-major p x p).</summary>
    private static double[] CholeskySolve(double[] h, double[] g, int p)
    {
        var l = new double[p * p];
        for (int i = 0; i < p; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                double sum = h[i * p + j];
                for (int k = 0; k < j; k++) sum -= l[i * p + k] * l[j * p + k];
                if (i == j)
                {
                    if (!(sum > 0)) throw new InvalidOperationException("The logistic regression Hessian is not positive definite.");
                    l[i * p + i] = Math.Sqrt(sum);
                }
                else l[i * p + j] = sum / l[j * p + j];
            }
        }
        var y = new double[p];
        for (int i = 0; i < p; i++)
        {
            double sum = g[i];
            for (int k = 0; k < i; k++) sum -= l[i * p + k] * y[k];
            y[i] = sum / l[i * p + i];
        }
        var s = new double[p];
        for (int i = p - 1; i >= 0; i--)
        {
            double sum = y[i];
            for (int k = i + 1; k < p; k++) sum -= l[k * p + i] * s[k];
            s[i] = sum / l[i * p + i];
        }
        return s;
    }
}
