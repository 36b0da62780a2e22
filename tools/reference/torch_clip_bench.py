"""Times the training step of `medclip-train bench` in plain PyTorch (CPU by default): the reference for its step time.

The model is Hugging Face's VisionTextDualEncoderModel written out in plain torch (no transformers package needed):
ViTModel (conv patch embedding, CLS token, position embeddings, pre-LN layers, final layernorm, pooler = tanh(dense(CLS)))
and BertModel (word + position + token-type embeddings, LayerNorm, post-LN layers with HF's additive attention mask,
pooler = tanh(dense(CLS))), erf GELU, layer-norm eps 1e-12, no dropout, bias-free projections, L2-normalised
embeddings, logits = exp(min(logit_scale, ln 100)) * img @ txt^T and the symmetric cross-entropy. Parameter names and
shapes are HF's, so the parameter count equals ours (both are printed).

The step is the same as src/MedClip/Training/StepBenchmark.cs: forward, loss, backward, clip_grad_norm_(1.0),
torch.optim.AdamW (lr 1e-4, weight decay 0.1 where src/MedClip/Optim/WeightDecayPolicy.cs applies it), on standard normal pixels and full-context random
token ids with an all-ones mask; warm-up steps excluded, median over the timed steps, 2 threads.

Variants, as the fastest PyTorch training would run on a GPU (each refused in one sentence where this torch lacks it):
--precision bf16 (autocast to bfloat16; the logits, loss and logit scale stay float32), --sdpa
(F.scaled_dot_product_attention instead of the explicit softmax(QK^T)V, torch >= 2.0), --fused-adamw
(torch.optim.AdamW(fused=True), CUDA, torch >= 2.0), --compile (torch.compile of the loss, torch >= 2.0) and --tf32
(fp32 matmuls on TF32 tensor cores, as `bench --tf32`). On CUDA the JSON also has the allocator's peak reserved and
allocated memory (reserved_mib, allocated_peak_mib).

Run from the repository root:  /usr/bin/python3 tools/reference/torch_clip_bench.py --model tiny [--device cuda]
    [--precision bf16] [--sdpa] [--fused-adamw] [--compile] [--tf32]
stdout: the bench JSON line (device "cpu-torch" or "cuda-torch", with the variant flags); stderr: a summary with the
parameter count and per-phase medians.
"""

import argparse
import contextlib
import inspect
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

LAYER_NORM_EPS = 1e-12
LOGIT_SCALE_INIT = 2.6592
MAX_LOGIT_SCALE = math.log(100)

# Mirrors src/MedClip/Models/ModelPresets.cs (vocabulary: the bench default, 2,000 for tiny, SciBERT's 31,090 otherwise;
# initializer range: ModelPresets.TinyInitializerRange for tiny, HF's 0.02 otherwise).
PRESETS = {
    "tiny": dict(image_size=64, patch=8, width=128, layers=4, heads=4, text_width=128, text_layers=4, text_heads=4,
                 context=64, max_positions=64, projection=128, vocab=2000, init_std=0.1),
    "small": dict(image_size=224, patch=16, width=384, layers=6, heads=6, text_width=384, text_layers=6, text_heads=6,
                  context=128, max_positions=512, projection=256, vocab=31090, init_std=0.02),
    "base": dict(image_size=224, patch=16, width=768, layers=12, heads=12, text_width=768, text_layers=12, text_heads=12,
                 context=128, max_positions=512, projection=512, vocab=31090, init_std=0.02),
}
DEFAULT_BATCH = {"tiny": 32, "small": 64, "base": 256}
USE_SDPA = False  # set by --sdpa


def linear(n_in, n_out, bias=True):
    return nn.Linear(n_in, n_out, bias=bias)


def init_like_hf(model, std):
    """HF's _init_weights: normal(0, std) weights for Linear, Conv2d and Embedding, zero biases, LayerNorm 1 and 0,
    and normal(0, std) for ViT's CLS token and position table."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.Embedding)):
            nn.init.normal_(module.weight, std=std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    embeddings = model.vision_model.embeddings
    nn.init.normal_(embeddings.cls_token, std=std)
    nn.init.normal_(embeddings.position_embeddings, std=std)


class SelfAttention(nn.Module):
    """HF ViTSelfAttention / BertSelfAttention: q, k, v projections, scaled dot product, additive mask, softmax."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = linear(width, width), linear(width, width), linear(width, width)

    def forward(self, x, additive_mask):
        b, t, d = x.shape
        split = lambda y: y.view(b, t, self.heads, d // self.heads).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        if USE_SDPA:
            mask = None if additive_mask is None else additive_mask.to(q.dtype)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask).permute(0, 2, 1, 3).reshape(b, t, d)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        if additive_mask is not None:
            scores = scores + additive_mask
        context = scores.softmax(dim=-1) @ v
        return context.permute(0, 2, 1, 3).reshape(b, t, d)


class Group(nn.Module):
    """A level of HF's module tree with no computation of its own (keeps HF's parameter names)."""

    def __init__(group, **children):  # not "self": BertAttention has a child named self
        super().__init__()
        for name, child in children.items():
            group.add_module(name, child)


def layer_norm(width):
    return nn.LayerNorm(width, eps=LAYER_NORM_EPS)


class ViTLayer(nn.Module):
    """Pre-LN: h = x + Wo Attn(LN_before(x)); y = h + W2 gelu(W1 LN_after(h))."""

    def __init__(self, width, heads):
        super().__init__()
        self.layernorm_before = layer_norm(width)
        self.attention = Group(attention=SelfAttention(width, heads), output=Group(dense=linear(width, width)))
        self.layernorm_after = layer_norm(width)
        self.intermediate = Group(dense=linear(width, 4 * width))
        self.output = Group(dense=linear(4 * width, width))

    def forward(self, x):
        h = x + self.attention.output.dense(self.attention.attention(self.layernorm_before(x), None))
        return h + self.output.dense(F.gelu(self.intermediate.dense(self.layernorm_after(h))))


class BertLayer(nn.Module):
    """Post-LN: a = LN1(x + Wo Attn(x)); y = LN2(a + W2 gelu(W1 a))."""

    def __init__(self, width, heads):
        super().__init__()
        self.attention = Group(self=SelfAttention(width, heads),
                               output=Group(dense=linear(width, width), LayerNorm=layer_norm(width)))
        self.intermediate = Group(dense=linear(width, 4 * width))
        self.output = Group(dense=linear(4 * width, width), LayerNorm=layer_norm(width))

    def forward(self, x, additive_mask):
        att = self.attention
        a = att.output.LayerNorm(x + att.output.dense(att.self(x, additive_mask)))
        return self.output.LayerNorm(a + self.output.dense(F.gelu(self.intermediate.dense(a))))


class ViTModel(nn.Module):
    def __init__(self, p):
        super().__init__()
        width, patches = p["width"], (p["image_size"] // p["patch"]) ** 2
        conv = nn.Conv2d(3, width, kernel_size=p["patch"], stride=p["patch"])
        self.embeddings = Group(patch_embeddings=Group(projection=conv))
        self.embeddings.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.embeddings.position_embeddings = nn.Parameter(torch.zeros(1, patches + 1, width))
        self.encoder = Group(layer=nn.ModuleList(ViTLayer(width, p["heads"]) for _ in range(p["layers"])))
        self.layernorm = layer_norm(width)
        self.pooler = Group(dense=linear(width, width))

    def forward(self, pixels):
        e = self.embeddings
        x = e.patch_embeddings.projection(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + e.position_embeddings
        for layer in self.encoder.layer:
            x = layer(x)
        return torch.tanh(self.pooler.dense(self.layernorm(x)[:, 0]))


class BertModel(nn.Module):
    def __init__(self, p):
        super().__init__()
        width = p["text_width"]
        self.embeddings = Group(word_embeddings=nn.Embedding(p["vocab"], width),
                                position_embeddings=nn.Embedding(p["max_positions"], width),
                                token_type_embeddings=nn.Embedding(2, width),
                                LayerNorm=layer_norm(width))
        self.encoder = Group(layer=nn.ModuleList(BertLayer(width, p["text_heads"]) for _ in range(p["text_layers"])))
        self.pooler = Group(dense=linear(width, width))

    def forward(self, ids, mask):
        e = self.embeddings
        positions = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0)
        x = e.word_embeddings(ids) + e.token_type_embeddings(torch.zeros_like(ids)) + e.position_embeddings(positions)
        x = e.LayerNorm(x)
        # HF's extended attention mask: 0 where attended, the dtype's minimum where padded, over [B, 1, 1, T].
        additive = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.encoder.layer:
            x = layer(x, additive)
        return torch.tanh(self.pooler.dense(x[:, 0]))


class DualEncoder(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.vision_model = ViTModel(p)
        self.text_model = BertModel(p)
        self.visual_projection = linear(p["width"], p["projection"], bias=False)
        self.text_projection = linear(p["text_width"], p["projection"], bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))
        init_like_hf(self, p["init_std"])

    def loss(self, pixels, ids, mask):
        img = F.normalize(self.visual_projection(self.vision_model(pixels)), dim=-1)
        txt = F.normalize(self.text_projection(self.text_model(ids, mask)), dim=-1)
        # Float32 from here on, also under autocast: the logits, the loss and the logit scale.
        logits = self.logit_scale.float().clamp(max=MAX_LOGIT_SCALE).exp() * img.float() @ txt.float().t()
        targets = torch.arange(logits.shape[0], device=logits.device)
        return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.t(), targets)) / 2


def set_tf32(enabled):
    precision = "tf32" if enabled else "ieee"
    try:
        torch.backends.cuda.matmul.fp32_precision = precision
        torch.backends.cudnn.conv.fp32_precision = precision
    except (AttributeError, AssertionError):  # before PyTorch 2.9 the backends refuse unknown attributes
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--sdpa", action="store_true")
    parser.add_argument("--fused-adamw", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--tf32", action="store_true")
    args = parser.parse_args()
    refuse = lambda why: sys.exit(f"torch_clip_bench.py: {why} (torch {torch.__version__}).")
    if args.sdpa and not hasattr(F, "scaled_dot_product_attention"):
        refuse("--sdpa needs F.scaled_dot_product_attention, which this torch lacks")
    if args.compile and not hasattr(torch, "compile"):
        refuse("--compile needs torch.compile, which this torch lacks")
    if args.fused_adamw and ("fused" not in inspect.signature(torch.optim.AdamW).parameters or args.device != "cuda"):
        refuse("--fused-adamw needs torch.optim.AdamW(fused=True) and --device cuda")
    if args.tf32 and (args.device != "cuda" or args.precision != "fp32"):
        refuse("--tf32 applies to fp32 matmuls on --device cuda")
    global USE_SDPA
    USE_SDPA = args.sdpa
    # PyTorch's default since 1.12 is full FP32 matmuls, like `bench` without --tf32. Recent PyTorch refuses to mix the
    # legacy allow_tf32 flags with the fp32_precision API (inductor reads the latter), so that API is used where it exists.
    set_tf32(args.tf32)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    p = PRESETS[args.model]
    batch = args.batch_size or DEFAULT_BATCH[args.model]
    device = torch.device(args.device)
    model = DualEncoder(p).to(device)
    parameters = list(model.parameters())
    named = list(model.named_parameters())
    optimizer = torch.optim.AdamW([
        {"params": [w for name, w in named if decays(name, w)], "weight_decay": 0.1},
        {"params": [w for name, w in named if not decays(name, w)], "weight_decay": 0.0},
    ], lr=1e-4, betas=(0.9, 0.999), eps=1e-8, **({"fused": True} if args.fused_adamw else {}))
    loss_of = torch.compile(model.loss) if args.compile else model.loss
    autocast = (lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)) if args.precision == "bf16" else contextlib.nullcontext
    pixels = torch.randn(batch, 3, p["image_size"], p["image_size"]).to(device)
    ids = torch.randint(0, p["vocab"], (batch, p["context"])).to(device)
    mask = torch.ones(batch, p["context"], dtype=torch.long, device=device)
    # Phase boundaries wait for the GPU, so each phase is charged its own kernels (a no-op on the CPU).
    now = (lambda: (torch.cuda.synchronize(), time.perf_counter())[1]) if device.type == "cuda" else time.perf_counter

    phases = {"forward": [], "backward": [], "update": [], "step": []}
    for step in range(args.warmup + args.steps):
        start = now()
        with autocast():
            loss = loss_of(pixels, ids, mask)
        after_forward = now()
        loss.backward()
        after_backward = now()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        end = now()
        if step >= args.warmup:
            for name, seconds in (("forward", after_forward - start), ("backward", after_backward - after_forward),
                                  ("update", end - after_backward), ("step", end - start)):
                phases[name].append(seconds * 1e3)

    median = {name: statistics.median(times) for name, times in phases.items()}
    step_ms = median["step"]
    report = {
        "device": f"{args.device}-torch", "model": args.model, "batch_size": batch,
        "precision": "tf32" if args.tf32 else args.precision,
        "sdpa": args.sdpa, "fused_adamw": args.fused_adamw, "compile": args.compile,
        "step_ms": round(step_ms, 2), "images_per_s": round(batch / (step_ms * 1e-3), 1),
        "tflops": round(training_step_flops(p, batch) / (step_ms * 1e-3) / 1e12, 4), "mfu": None,
    }
    if device.type == "cuda":
        # The caching allocator's peak, as `bench` reports its arena's (which never shrinks).
        report["reserved_mib"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
        report["allocated_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    print(json.dumps(report))
    count = sum(w.numel() for w in parameters)
    print(f"torch {torch.__version__} on {args.device}, {torch.get_num_threads()} threads: {args.model} ({count:,} parameters), batch {batch}, "
          f"median of {args.steps} steps: {step_ms:.1f} ms (forward {median['forward']:.1f}, backward "
          f"{median['backward']:.1f}, clip + AdamW {median['update']:.1f})", file=sys.stderr)


def decays(name, parameter):
    """WeightDecayPolicy.Applies: matrices and the patch kernel, but not position tables or the CLS token."""
    return parameter.dim() >= 2 and not name.endswith(("position_embeddings", "position_embeddings.weight", "cls_token"))


def training_step_flops(p, batch):
    """6 x the forward multiply-adds of every matmul, as src/MedClip/Models/ModelFlops.cs counts them."""
    def layer(width, tokens):
        return tokens * (4 * width * width + 2 * width * 4 * width) + 2 * tokens * tokens * width
    patches = (p["image_size"] // p["patch"]) ** 2
    image = (patches * 3 * p["patch"] ** 2 * p["width"] + p["layers"] * layer(p["width"], patches + 1)
             + p["width"] ** 2 + p["width"] * p["projection"])
    text = p["text_layers"] * layer(p["text_width"], p["context"]) + p["text_width"] ** 2 + p["text_width"] * p["projection"]
    return 6.0 * batch * (image + text + batch * p["projection"])


if __name__ == "__main__":
    main()
