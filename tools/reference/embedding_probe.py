#!/usr/bin/env python3
"""Which labels a trained checkpoint's two towers encode: a logistic-regression probe per label on the image
embeddings and, separately, on the embeddings of the studies' own report texts.

Usage: /usr/bin/python3 tools/reference/embedding_probe.py DATASET_DIR CHECKPOINT_DIR [--medclip CMD]
  DATASET_DIR  a folder written by `medclip-train synth` (MIMIC-CXR-JPG layout, reports beside the study folders)
  --medclip    how to run the CLI (default: dotnet run -c Release --project src/MedClip.Cli --)

Embeds every image and every report's IMPRESSION (or, without one, FINDINGS) with `medclip-train embed`, fits on the
train split and scores AUROC on the test split; uncertain labels are left out, blank ones count as negative, as
`eval` counts them. A label the report names but whose text probe stays near 0.5 is one the text tower ignores.
Beside the probes, the plain prompts "{label}" vs "no {label}": the AUROC of (prompt difference . embedding) on the
test images (eval's zero-shot ranking) and on the test reports, and the cosine between the two prompts. A label whose
image probe is high but whose image zero-shot is low has prompts that point the wrong way.
Needs Debian's python3-numpy and python3-sklearn. A diagnostic, not a model of this project.
"""
import argparse
import csv
import json
import os
import re
import shlex
import subprocess
import tempfile

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

LABELS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion",
          "Pneumothorax", "Support Devices", "Lung Lesion"]


def report_text(report):
    match = re.search(r"IMPRESSION:(.*)", report, re.S) or re.search(r"FINDINGS:(.*)", report, re.S)
    return " ".join((match.group(1) if match else report).replace("FINDINGS:", " ").split())


def read_tensors(path):
    raw = open(path, "rb").read()
    length = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + length])
    base = 8 + length

    def tensor(name):
        start, end = header[name]["data_offsets"]
        return np.frombuffer(raw[base + start:base + end], dtype=np.float32).reshape(header[name]["shape"])
    return tensor


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("checkpoint")
    parser.add_argument("--medclip", default="dotnet run -c Release --project src/MedClip.Cli --")
    args = parser.parse_args()

    split = {r["study_id"]: r["split"] for r in csv.DictReader(open(os.path.join(args.dataset, "mimic-cxr-2.0.0-split.csv")))}
    labels = {r["study_id"]: r for r in csv.DictReader(open(os.path.join(args.dataset, "mimic-cxr-2.0.0-chexpert.csv")))}
    rows = []
    for m in csv.DictReader(open(os.path.join(args.dataset, "mimic-cxr-2.0.0-metadata.csv"))):
        subject, study = m["subject_id"], m["study_id"]
        folder = os.path.join(args.dataset, "files", f"p{subject[:2]}", f"p{subject}")
        image = os.path.join(folder, f"s{study}", m["dicom_id"] + ".jpg")
        text = report_text(open(os.path.join(folder, f"s{study}.txt"), encoding="utf-8").read())
        rows.append((image, text, split.get(study), labels.get(study)))
    rows.sort(key=lambda row: row[0])  # embed reads a folder's images sorted by path

    with tempfile.TemporaryDirectory() as work:
        texts = os.path.join(work, "texts.txt")
        output = os.path.join(work, "embeddings.safetensors")
        prompts = [text for label in LABELS for text in (label.lower(), "no " + label.lower())]
        open(texts, "w", encoding="utf-8").write("\n".join([row[1] for row in rows] + prompts) + "\n")
        subprocess.run(shlex.split(args.medclip) + ["embed", "--checkpoint", args.checkpoint, "--images",
                       os.path.join(args.dataset, "files"), "--texts", texts, "--out", output], check=True, capture_output=True)
        tensor = read_tensors(output)
        images, texts_embedded = tensor("image_embeds"), tensor("text_embeds")
        reports, prompt_embeds = texts_embedded[:len(rows)], texts_embedded[len(rows):]
    if images.shape[0] != len(rows):
        raise SystemExit(f"{len(rows) - images.shape[0]} images could not be embedded; the probe needs them all.")

    print(f"{'label':18s} {'image probe':>11s} {'text probe':>10s} {'image zero-shot':>15s} {'text zero-shot':>14s} {'cos(prompts)':>12s}")
    for k, label in enumerate(LABELS):
        def pick(name):
            return [i for i, row in enumerate(rows) if row[2] == name and row[3] and row[3][label] != "-1.0"]
        train, test = pick("train"), pick("test")
        y_train = np.array([rows[i][3][label] == "1.0" for i in train], dtype=int)
        y_test = np.array([rows[i][3][label] == "1.0" for i in test], dtype=int)
        if len(set(y_train)) < 2 or len(set(y_test)) < 2:
            print(f"{label:18s} {'one class':>11s}")
            continue
        scores = []
        for features in (images, reports):
            model = LogisticRegression(C=1.0, max_iter=2000).fit(features[train], y_train)
            scores.append(roc_auc_score(y_test, model.decision_function(features[test])))
        positive, negative = prompt_embeds[2 * k], prompt_embeds[2 * k + 1]
        for features in (images, reports):
            scores.append(roc_auc_score(y_test, features[test] @ (positive - negative)))
        print(f"{label:18s} {scores[0]:11.3f} {scores[1]:10.3f} {scores[2]:15.3f} {scores[3]:14.3f} {float(positive @ negative):12.3f}")


if __name__ == "__main__":
    main()
