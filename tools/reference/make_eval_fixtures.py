"""Writes the scikit-learn reference values that tests/MedClip.Tests/Evaluation/SklearnFixtureTests.cs checks against.

Run from the repository root with Debian's scikit-learn (apt-get install python3-sklearn):

    /usr/bin/python3 tools/reference/make_eval_fixtures.py

Scores are rounded to one or two decimals so that ties occur, within and across classes. Every value is written with
repr precision (JSON floats round-trip exactly). roc_curve runs with drop_intermediate=False, so every distinct score
is a point; its first threshold is max(score) + 1 in scikit-learn 1.2 and +inf from 1.3 on, so only thresholds[1:]
are stored. The logistic regressions use C = 1 / lambda with the newton-cholesky solver at a tight tolerance, the
objective sum(log-loss) + lambda / 2 |w|^2 with an unpenalised intercept.
"""

import json
import os

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import confusion_matrix, f1_score, roc_auc_score, roc_curve, accuracy_score

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "tests", "MedClip.Tests", "Fixtures", "Evaluation", "sklearn_metrics.json"))


def auroc_cases(rng):
    cases = []
    for n, decimals, prevalence in [(12, 1, 0.5), (57, 1, 0.3), (200, 2, 0.1), (400, 1, 0.6), (31, 0, 0.5)]:
        labels = rng.random(n) < prevalence
        labels[0], labels[1] = True, False  # both classes present
        # Positives score higher on average; rounding makes ties.
        scores = np.round(rng.normal(0.0, 1.0, n) + 0.8 * labels, decimals)
        fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
        cases.append({
            "scores": scores.tolist(),
            "labels": labels.astype(int).tolist(),
            "auroc": float(roc_auc_score(labels, scores)),
            "fpr": fpr.tolist(),
            "tpr": tpr.tolist(),
            "thresholds_after_first": thresholds[1:].tolist(),
        })
    return cases


def multiclass_cases(rng):
    cases = []
    for n, classes, drop in [(50, 5, None), (200, 5, None), (40, 5, 3)]:
        truth = rng.integers(0, classes, n)
        predicted = np.where(rng.random(n) < 0.5, truth, rng.integers(0, classes, n))
        if drop is not None:  # a class never true and never predicted: its F1 is 0 by zero_division
            truth[truth == drop] = 0
            predicted[predicted == drop] = 1
        labels = list(range(classes))
        cases.append({
            "classes": classes,
            "truth": truth.tolist(),
            "predicted": predicted.tolist(),
            "accuracy": float(accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
            "confusion_matrix": confusion_matrix(truth, predicted, labels=labels).tolist(),
        })
    return cases


def logistic_cases(rng):
    cases = []
    for n, d, lam in [(60, 4, 1.0), (300, 16, 0.1), (120, 8, 10.0)]:
        x = rng.normal(0.0, 1.0, (n, d))
        true_w = rng.normal(0.0, 1.5, d)
        y = rng.random(n) < 1 / (1 + np.exp(-(x @ true_w - 0.3)))
        model = LogisticRegression(C=1.0 / lam, solver="newton-cholesky", tol=1e-14, max_iter=1000)
        model.fit(x, y)
        cases.append({
            "lambda": lam,
            "features": x.tolist(),
            "labels": y.astype(int).tolist(),
            "coefficients": model.coef_[0].tolist(),
            "intercept": float(model.intercept_[0]),
            "probabilities": model.predict_proba(x)[:, 1].tolist(),
        })
    return cases


def percentile_cases(rng):
    values = rng.normal(0.0, 1.0, 37).tolist()
    return {"values": values, "q": [2.5, 50.0, 97.5], "percentiles": [float(np.percentile(values, q)) for q in [2.5, 50.0, 97.5]]}


def main():
    rng = np.random.default_rng(20261128)
    fixture = {
        "sklearn_version": sklearn.__version__,
        "auroc": auroc_cases(rng),
        "multiclass": multiclass_cases(rng),
        "logistic": logistic_cases(rng),
        "percentile": percentile_cases(rng),
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f)
    print(f"wrote {OUT} (scikit-learn {sklearn.__version__})")


if __name__ == "__main__":
    main()
