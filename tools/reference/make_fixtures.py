"""Writes the PyTorch reference fixtures that tests/MedClip.Tests/Fixtures/TorchFixtureTests.cs checks against.

Run from the repository root with Debian's torch (no transformers or safetensors package needed):

    /usr/bin/python3 tools/reference/make_fixtures.py

Every input is drawn in float32 from a fixed seed and then computed on in float64, so the
stored inputs are exact and the stored outputs and gradients (rounded once to float32) are
as close to the true values as float32 allows. Gradients come from autograd on
(y * dy).sum() with a random dy, or on the scalar loss for InfoNCE. The transformer blocks
are Hugging Face's ViTLayer (pre-LN) and BertLayer (post-LN) written out in plain torch,
with HF's parameter names and HF's additive attention mask (0 to keep, finfo.min to pad).
"""

import json
import math
import os
import struct

import torch
import torch.nn.functional as F

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "MedClip.Tests", "Fixtures"))
LAYER_NORM_EPS = 1e-12


def write_safetensors(name, tensors, metadata):
    """safetensors by hand: 8-byte little-endian header length, JSON header padded with spaces
    to a multiple of 8, then the tensors' little-endian bytes in name order. Float tensors are
    stored as F32, integer ones as I32."""
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous()
        if t.is_floating_point():
            dtype, data = "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()
        else:
            dtype, data = "I32", t.to(torch.int32).numpy().astype("<i4").tobytes()
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors")


def f32(generator, *shape, std=1.0, mean=0.0):
    """Normal draws rounded to float32, then promoted to float64 so the stored inputs are exact."""
    return (torch.randn(*shape, generator=generator, dtype=torch.float32) * std + mean).double()


def leaf(t):
    return t.clone().requires_grad_(True)


def backward_with_random_dy(generator, y, inputs):
    """Gradients of (y * dy).sum() with respect to each named input, plus dy itself."""
    dy = f32(generator, *y.shape)
    grads = torch.autograd.grad((y * dy).sum(), list(inputs.values()))
    return dy, {f"grad.{name}": g for name, g in zip(inputs, grads)}


def layernorm_fixture():
    g = torch.Generator().manual_seed(1)
    x = leaf(f32(g, 5, 37, std=3.0, mean=1.5))
    weight = leaf(f32(g, 37, std=0.2, mean=1.0))
    bias = leaf(f32(g, 37, std=0.2))
    y = F.layer_norm(x, (37,), weight, bias, LAYER_NORM_EPS)
    dy, grads = backward_with_random_dy(g, y, {"x": x, "weight": weight, "bias": bias})
    write_safetensors("layernorm.safetensors",
                      {"x": x, "weight": weight, "bias": bias, "dy": dy, "y": y, **grads},
                      {"eps": "1e-12"})


def gelu_fixtures():
    activations = {
        "gelu_erf": lambda x: 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0))),
        "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
        "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
    }
    for seed, (name, activation) in enumerate(activations.items(), start=2):
        g = torch.Generator().manual_seed(seed)
        n = 1031
        # An even grid over [-8, 8] with a little jitter, so both tails and the bend near 0 are covered.
        grid = torch.linspace(-8.0, 8.0, n, dtype=torch.float32)
        grid += (torch.rand(n, generator=g, dtype=torch.float32) - 0.5) * 0.01
        grid[0], grid[n // 2], grid[-1] = -8.0, 0.0, 8.0
        x = leaf(grid.double())
        y = activation(x)
        dy, grads = backward_with_random_dy(g, y, {"x": x})
        write_safetensors(f"{name}.safetensors", {"x": x, "dy": dy, "y": y, **grads}, {"activation": name})


BATCH, SEQ, HIDDEN, HEADS, INTERMEDIATE = 2, 7, 24, 3, 40


def make_params(generator, linears, layer_norms):
    """Linear weights [out, in] and biases with std 0.2; LayerNorm weights near 1, biases near 0."""
    params = {}
    for name, (out_features, in_features) in linears.items():
        params[f"{name}.weight"] = leaf(f32(generator, out_features, in_features, std=0.2))
        params[f"{name}.bias"] = leaf(f32(generator, out_features, std=0.2))
    for name in layer_norms:
        params[f"{name}.weight"] = leaf(f32(generator, HIDDEN, std=0.2, mean=1.0))
        params[f"{name}.bias"] = leaf(f32(generator, HIDDEN, std=0.2))
    return params


def padding_mask():
    """1 = keep, 0 = padding: batch 0 keeps all positions, batch 1 pads its last 3."""
    mask = torch.ones(BATCH, SEQ, dtype=torch.int32)
    mask[1, -3:] = 0
    return mask


def linear(p, name, x):
    return F.linear(x, p[f"{name}.weight"], p[f"{name}.bias"])


def layer_norm(p, name, x):
    return F.layer_norm(x, (HIDDEN,), p[f"{name}.weight"], p[f"{name}.bias"], LAYER_NORM_EPS)


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def self_attention(p, prefix, x, mask):
    """HF ViTSelfAttention / BertSelfAttention with HF's extended attention mask."""
    b, t, _ = x.shape
    d = HIDDEN // HEADS

    def heads(h):  # [B, T, H*d] -> [B, H, T, d]
        return h.view(b, t, HEADS, d).permute(0, 2, 1, 3)

    q, k, v = (heads(linear(p, f"{prefix}.{n}", x)) for n in ("query", "key", "value"))
    additive = (1.0 - mask.double())[:, None, None, :] * torch.finfo(torch.float64).min
    scores = q @ k.transpose(-1, -2) / math.sqrt(d) + additive
    probs = torch.softmax(scores, dim=-1)
    return (probs @ v).permute(0, 2, 1, 3).reshape(b, t, HIDDEN)


def vit_layer(p, x, mask):
    """HF ViTLayer (pre-LN): h = x + Wo·Attn(LN_before(x)); y = h + W2·gelu(W1·LN_after(h))."""
    attention = linear(p, "attention.output.dense", self_attention(p, "attention.attention", layer_norm(p, "layernorm_before", x), mask))
    h = attention + x
    return linear(p, "output.dense", gelu_erf(linear(p, "intermediate.dense", layer_norm(p, "layernorm_after", h)))) + h


def bert_layer(p, x, mask):
    """HF BertLayer (post-LN): a = LN1(x + Wo·Attn(x)); y = LN2(a + W2·gelu(W1·a))."""
    a = layer_norm(p, "attention.output.LayerNorm", linear(p, "attention.output.dense", self_attention(p, "attention.self", x, mask)) + x)
    return layer_norm(p, "output.LayerNorm", linear(p, "output.dense", gelu_erf(linear(p, "intermediate.dense", a))) + a)


def block_fixture(file_name, seed, layer, attention_prefix, attention_output, layer_norms):
    g = torch.Generator().manual_seed(seed)
    linears = {f"{attention_prefix}.{n}": (HIDDEN, HIDDEN) for n in ("query", "key", "value")}
    linears[attention_output] = (HIDDEN, HIDDEN)
    linears["intermediate.dense"] = (INTERMEDIATE, HIDDEN)
    linears["output.dense"] = (HIDDEN, INTERMEDIATE)
    params = make_params(g, linears, layer_norms)
    x = leaf(f32(g, BATCH, SEQ, HIDDEN))
    mask = padding_mask()
    y = layer(params, x, mask)
    dy, grads = backward_with_random_dy(g, y, {"x": x, **{f"param.{n}": t for n, t in params.items()}})
    tensors = {"x": x, "mask": mask, "dy": dy, "y": y, **grads, **{f"param.{n}": t for n, t in params.items()}}
    write_safetensors(file_name, tensors, {
        "hidden_size": str(HIDDEN), "num_attention_heads": str(HEADS), "intermediate_size": str(INTERMEDIATE),
        "layer_norm_eps": "1e-12", "hidden_act": "gelu",
    })


def infonce_fixture(file_name, seed, logit_scale_value, alignment):
    """HF VisionTextDualEncoder / CLIP loss with the logit scale clamped at ln(100). Each text
    embedding is alignment * its image's plus noise; the alignment keeps the loss of order 1, so
    float32's cancellation in log-sum-exp minus the positive logit stays far below the tolerance."""
    g = torch.Generator().manual_seed(seed)
    n, dim = 6, 16
    image32 = torch.randn(n, dim, generator=g, dtype=torch.float32) * 2.0
    text32 = alignment * image32 + torch.randn(n, dim, generator=g, dtype=torch.float32) * 2.0
    image, text = leaf(image32.double()), leaf(text32.double())
    logit_scale = leaf(torch.tensor(logit_scale_value, dtype=torch.float32).double())
    i = image / image.norm(dim=-1, keepdim=True)
    t = text / text.norm(dim=-1, keepdim=True)
    logits_per_image = torch.clamp(logit_scale, max=math.log(100.0)).exp() * i @ t.T
    labels = torch.arange(n)
    loss = (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.T, labels)) / 2
    grad_image, grad_text, grad_scale = torch.autograd.grad(loss, [image, text, logit_scale])
    write_safetensors(file_name, {
        "image": image, "text": text, "logit_scale": logit_scale, "loss": loss,
        "grad.image": grad_image, "grad.text": grad_text, "grad.logit_scale": grad_scale,
    }, {"max_logit_scale": "ln(100)"})


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    layernorm_fixture()
    gelu_fixtures()
    block_fixture("block_preln.safetensors", 5, vit_layer, "attention.attention", "attention.output.dense",
                  ["layernorm_before", "layernorm_after"])
    block_fixture("block_postln.safetensors", 6, bert_layer, "attention.self", "attention.output.dense",
                  ["attention.output.LayerNorm", "output.LayerNorm"])
    infonce_fixture("infonce.safetensors", 7, math.log(1 / 0.07), alignment=0.3)
    infonce_fixture("infonce_clamped.safetensors", 8, 5.0, alignment=0.0)


if __name__ == "__main__":
    main()
