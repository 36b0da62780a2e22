"""Writes a small random Hugging Face CLIPModel folder and its embeddings, for the CLIPModel loading tests:

- tests/MedClip.Tests/Fixtures/Clip/model/: config.json (model_type clip), model.safetensors (CLIPModel names, with
  the position_ids buffers older transformers saved), preprocessor_config.json; the tokenizer files beside them come
  from make_clip_tokenizer_fixtures.py (run that first);
- tests/MedClip.Tests/Fixtures/Clip/pytorch_model.bin: the same state dict through torch.save;
- tests/MedClip.Tests/Fixtures/Clip/images/*.png: grayscale images at the model's image size;
- tests/MedClip.Tests/Fixtures/Clip/clip_embeddings.safetensors: image_embeds [images, P] and text_embeds [texts, P]
  (L2-normalised, CLIPModel.get_image_features / get_text_features then normalised), and clip_texts.txt, one a line.

The forward is written here from transformers' modeling_clip.py (CLIPVisionTransformer, CLIPTextTransformer with
the causal mask added to the padding mask, pooling at the first eos_token_id) and runs in float64; texts are encoded
by hf_clip_tokenizer_reference.py at max_length 77. Run from the repository root with Debian's torch 1.13:

    /usr/bin/python3 tools/reference/make_clip_tokenizer_fixtures.py
    /usr/bin/python3 tools/reference/make_clip_model_fixture.py
"""

import json
import os
import struct
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_clip_tokenizer_reference as clip_tokenizer  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "MedClip.Tests", "Fixtures", "Clip")
MODEL = os.path.join(FIXTURES, "model")
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]

TEXTS = [
    "No acute cardiopulmonary process.",
    "Small left pleural effusion with adjacent atelectasis.",
    "There's no pneumothorax; the heart size is normal.",
    "Café-au-lait? 37°C, 2.5 cm nodule — new since ___.",
    "pleural effusion " * 30,
    "",
]


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def config(vocab_size, eos, bos):
    text = {"model_type": "clip_text_model", "vocab_size": vocab_size, "hidden_size": 16, "intermediate_size": 32,
            "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77, "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5, "projection_dim": 8, "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": eos}
    vision = {"model_type": "clip_vision_model", "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
              "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "num_channels": 3, "hidden_act": "quick_gelu",
              "layer_norm_eps": 1e-5, "projection_dim": 8}
    return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 8, "logit_scale_init_value": 2.6592,
            "initializer_factor": 1.0, "torch_dtype": "float32", "text_config": text, "vision_config": vision}


def weights(g, c):
    sd = {}

    def normal(*shape, std=0.2):
        return torch.randn(*shape, generator=g, dtype=torch.float64) * std

    def linear(name, n_in, n_out, bias=True):
        sd[name + ".weight"] = normal(n_out, n_in)
        if bias:
            sd[name + ".bias"] = normal(n_out, std=0.05)

    def layernorm(name, width):
        sd[name + ".weight"] = 1 + normal(width, std=0.1)
        sd[name + ".bias"] = normal(width, std=0.1)

    def encoder(prefix, tc):
        d, f = tc["hidden_size"], tc["intermediate_size"]
        for i in range(tc["num_hidden_layers"]):
            p = f"{prefix}encoder.layers.{i}."
            layernorm(p + "layer_norm1", d)
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                linear(p + "self_attn." + proj, d, d)
            layernorm(p + "layer_norm2", d)
            linear(p + "mlp.fc1", d, f)
            linear(p + "mlp.fc2", f, d)

    v, t = c["vision_config"], c["text_config"]
    patches = (v["image_size"] // v["patch_size"]) ** 2
    sd["vision_model.embeddings.class_embedding"] = normal(v["hidden_size"])
    sd["vision_model.embeddings.patch_embedding.weight"] = normal(v["hidden_size"], 3, v["patch_size"], v["patch_size"], std=0.05)
    sd["vision_model.embeddings.position_embedding.weight"] = normal(patches + 1, v["hidden_size"])
    layernorm("vision_model.pre_layrnorm", v["hidden_size"])
    encoder("vision_model.", v)
    layernorm("vision_model.post_layernorm", v["hidden_size"])
    sd["text_model.embeddings.token_embedding.weight"] = normal(t["vocab_size"], t["hidden_size"])
    sd["text_model.embeddings.position_embedding.weight"] = normal(t["max_position_embeddings"], t["hidden_size"])
    encoder("text_model.", t)
    layernorm("text_model.final_layer_norm", t["hidden_size"])
    linear("visual_projection", v["hidden_size"], c["projection_dim"], bias=False)
    linear("text_projection", t["hidden_size"], c["projection_dim"], bias=False)
    sd["logit_scale"] = torch.tensor(c["logit_scale_init_value"], dtype=torch.float64)
    # Stored in float32, as a checkpoint is; the reference computes on exactly these values in float64.
    return {k: w.float().double() for k, w in sd.items()}


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def encoder_forward(sd, prefix, tc, x, additive_mask):
    """CLIPEncoder: pre-LN layers, eager attention softmax(q k^T * d^-0.5 + mask) v."""
    heads, eps = tc["num_attention_heads"], tc["layer_norm_eps"]
    b, n, d = x.shape
    hd = d // heads

    def lin(name, h):
        return h @ sd[name + ".weight"].T + sd.get(name + ".bias", 0)

    def ln(name, h):
        return torch.nn.functional.layer_norm(h, (d,), sd[name + ".weight"], sd[name + ".bias"], eps)

    for i in range(tc["num_hidden_layers"]):
        p = f"{prefix}encoder.layers.{i}."
        h = ln(p + "layer_norm1", x)
        q, k, v = (lin(p + "self_attn." + s, h).view(b, n, heads, hd).transpose(1, 2) for s in ("q_proj", "k_proj", "v_proj"))
        scores = q @ k.transpose(-1, -2) * hd ** -0.5
        if additive_mask is not None:
            scores = scores + additive_mask
        context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, n, d)
        x = x + lin(p + "self_attn.out_proj", context)
        h = ln(p + "layer_norm2", x)
        x = x + lin(p + "mlp.fc2", quick_gelu(lin(p + "mlp.fc1", h)))
    return x


def image_features(sd, c, pixels):
    v = c["vision_config"]
    d, p = v["hidden_size"], v["patch_size"]
    x = torch.nn.functional.conv2d(pixels, sd["vision_model.embeddings.patch_embedding.weight"], stride=p).flatten(2).transpose(1, 2)
    x = torch.cat([sd["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, d), x], dim=1)
    x = x + sd["vision_model.embeddings.position_embedding.weight"]
    x = torch.nn.functional.layer_norm(x, (d,), sd["vision_model.pre_layrnorm.weight"], sd["vision_model.pre_layrnorm.bias"], v["layer_norm_eps"])
    x = encoder_forward(sd, "vision_model.", v, x, None)
    pooled = torch.nn.functional.layer_norm(x[:, 0], (d,), sd["vision_model.post_layernorm.weight"], sd["vision_model.post_layernorm.bias"],
                                            v["layer_norm_eps"])
    return pooled @ sd["visual_projection.weight"].T


def text_features(sd, c, ids, mask):
    t = c["text_config"]
    d = t["hidden_size"]
    b, n = ids.shape
    x = sd["text_model.embeddings.token_embedding.weight"][ids] + sd["text_model.embeddings.position_embedding.weight"][:n]
    lowest = torch.finfo(torch.float64).min
    causal = torch.triu(torch.full((n, n), lowest, dtype=torch.float64), diagonal=1)
    padding = (1.0 - mask[:, None, None, :].double()) * lowest
    x = encoder_forward(sd, "text_model.", t, x, (causal[None, None] + padding).clamp(min=lowest))
    x = torch.nn.functional.layer_norm(x, (d,), sd["text_model.final_layer_norm.weight"], sd["text_model.final_layer_norm.bias"], t["layer_norm_eps"])
    if bool((ids.max(dim=-1).values == 49407).all()):
        positions = ids.argmax(dim=-1)
    else:
        positions = (ids == t["eos_token_id"]).int().argmax(dim=-1)
    return x[torch.arange(b), positions] @ sd["text_projection.weight"].T


def main():
    g = torch.Generator().manual_seed(22)
    tokenizer = clip_tokenizer.load(MODEL)
    c = config(len(tokenizer.vocab), tokenizer.vocab[clip_tokenizer.EOS], tokenizer.vocab[clip_tokenizer.BOS])
    sd = weights(g, c)
    with open(os.path.join(MODEL, "config.json"), "w") as f:
        json.dump(c, f, indent=2)
    size = c["vision_config"]["image_size"]
    with open(os.path.join(MODEL, "preprocessor_config.json"), "w") as f:
        json.dump({"image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": size}, "do_center_crop": True,
                   "crop_size": {"height": size, "width": size}, "do_normalize": True, "image_mean": MEAN, "image_std": STD, "resample": 3,
                   "do_rescale": True, "rescale_factor": 1 / 255}, f, indent=2)
    stored = {k: w.float() for k, w in sd.items()}
    stored["vision_model.embeddings.position_ids"] = torch.arange((size // 8) ** 2 + 1).unsqueeze(0)
    stored["text_model.embeddings.position_ids"] = torch.arange(77).unsqueeze(0)
    write_safetensors(os.path.join(MODEL, "model.safetensors"), stored)
    torch.save(stored, os.path.join(FIXTURES, "pytorch_model.bin"))

    images = os.path.join(FIXTURES, "images")
    os.makedirs(images, exist_ok=True)
    pixels = []
    rng = np.random.default_rng(22)
    for i in range(3):
        gray = rng.integers(0, 256, size=(size, size), dtype=np.uint8)
        Image.fromarray(gray, mode="L").save(os.path.join(images, f"image{i}.png"))
        x = torch.from_numpy(gray.astype(np.float64) / 255).expand(3, size, size)
        pixels.append((x - torch.tensor(MEAN, dtype=torch.float64)[:, None, None]) / torch.tensor(STD, dtype=torch.float64)[:, None, None])
    image_embeds = image_features(sd, c, torch.stack(pixels))

    encoded = [tokenizer.encode(t, 77) for t in TEXTS]
    ids = torch.tensor([e[0] for e in encoded])
    mask = torch.tensor([e[1] for e in encoded])
    text_embeds = text_features(sd, c, ids, mask)
    normalise = lambda e: (e / e.norm(dim=-1, keepdim=True)).float()  # noqa: E731
    write_safetensors(os.path.join(FIXTURES, "clip_embeddings.safetensors"),
                      {"image_embeds": normalise(image_embeds), "text_embeds": normalise(text_embeds)})
    with open(os.path.join(FIXTURES, "clip_texts.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(TEXTS) + "\n")
    print(f"vocab {len(tokenizer.vocab)}, {len(stored)} tensors, {len(pixels)} images, {len(TEXTS)} texts")


if __name__ == "__main__":
    main()
