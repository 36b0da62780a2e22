#!/usr/bin/env python3
"""How visible the synthetic findings are: logistic regression on raw pixels, per competition label.

Usage: /usr/bin/python3 tools/reference/pixel_probe.py DATASET_DIR   (a folder written by `medclip-train synth`)

Fits on the train split and scores AUROC on the test split, with images downsampled to 32 px and standardised.
Uncertain and blank labels are left out. Needs Debian's python3-pil, python3-numpy and python3-sklearn.
It is a reference for what the pixels alone carry, not a model of this project.
"""
import csv
import os
import sys

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

LABELS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]


def main(root):
    split = list(csv.DictReader(open(os.path.join(root, "mimic-cxr-2.0.0-split.csv"))))
    labels = {r["study_id"]: r for r in csv.DictReader(open(os.path.join(root, "mimic-cxr-2.0.0-chexpert.csv")))}
    pixels = {"train": [], "test": []}
    rows = {"train": [], "test": []}
    for r in split:
        if r["split"] not in pixels:
            continue
        s, study = r["subject_id"], r["study_id"]
        path = os.path.join(root, "files", f"p{s[:2]}", f"p{s}", f"s{study}", r["dicom_id"] + ".jpg")
        if not os.path.exists(path):
            continue
        image = Image.open(path).convert("L").resize((32, 32))
        pixels[r["split"]].append(np.asarray(image, dtype=np.float32).ravel() / 255)
        rows[r["split"]].append(labels.get(study, {}))
    train, test = np.array(pixels["train"]), np.array(pixels["test"])
    mean, std = train.mean(0), train.std(0) + 1e-3
    train, test = (train - mean) / std, (test - mean) / std

    def targets(split_rows, label):
        return np.array([1 if r.get(label) == "1.0" else 0 if r.get(label) == "0.0" else -1 for r in split_rows])

    result = {}
    for label in LABELS:
        y_train, y_test = targets(rows["train"], label), targets(rows["test"], label)
        model = LogisticRegression(C=0.01, max_iter=2000).fit(train[y_train >= 0], y_train[y_train >= 0])
        result[label] = roc_auc_score(y_test[y_test >= 0], model.decision_function(test[y_test >= 0]))
    for label, auroc in result.items():
        print(f"{label:18s} {auroc:.3f}")
    print(f"{'mean':18s} {np.mean(list(result.values())):.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
