#!/usr/bin/env python3
# Writes examples/manifest.csv and its images (run from anywhere; Debian python3-numpy and python3-pil).
# 24 small grayscale "chest films": an oval thorax, a heart shadow (large in cardiomegaly), a fluid level (effusion).
import numpy as np
from PIL import Image
rng = np.random.default_rng(0)
import os
os.chdir(os.path.dirname(os.path.abspath(__file__)))
os.makedirs("images", exist_ok=True)
rows = []
kinds = [("cardiomegaly", "Enlarged cardiac silhouette."), ("effusion", "Small left pleural effusion."), ("normal", "No acute cardiopulmonary process.")]
for i in range(24):
    kind, text = kinds[i % 3]
    y, x = np.mgrid[0:64, 0:64] / 63.0
    img = 40 + 20 * rng.random((64, 64))
    lungs = ((x - 0.5) / 0.42) ** 2 + ((y - 0.55) / 0.45) ** 2 < 1
    img[lungs] += 90
    heart_r = 0.22 if kind == "cardiomegaly" else 0.13
    img[((x - 0.55) / heart_r) ** 2 + ((y - 0.65) / (heart_r * 0.8)) ** 2 < 1] = 200
    if kind == "effusion":
        img[(y > 0.8) & lungs & (x > 0.5)] = 210
    split = "train" if i < 18 else ("validate" if i < 21 else "test")
    name = f"images/{i:02d}-{kind}.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(name, optimize=True)
    rows.append((name, text, split))
with open("manifest.csv", "w") as f:
    f.write("image,text,split\n")
    for r in rows:
        f.write(f"{r[0]},{r[1]},{r[2]}\n")
