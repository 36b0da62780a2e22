"""Writes the pretrained-tower fixtures that tests/MedClip.Tests/Models/PretrainedTowerTests.cs and
tests/MedClip.Tests/IO/TorchCheckpointTests.cs check against.

Run from the repository root with Debian's torch (no transformers or safetensors package needed):

    /usr/bin/python3 tools/reference/make_pretrained_fixtures.py

Three small random models are built as Hugging Face folders, with HF's exact parameter names and
the computation of transformers' modeling_vit.py (ViTModel), modeling_clip.py (CLIPModel, of which
only the vision half is used) and modeling_bert.py (BertModel), written out in plain torch:

    vit/   ViTModel: config.json, model.safetensors, pytorch_model.bin (zip format),
           preprocessor_config.json
    clip/  CLIPModel (vision and text halves, projections, logit_scale, position_ids buffers):
           config.json, model.safetensors, pytorch_model.bin (legacy pre-1.6 format),
           preprocessor_config.json
    bert/  BertModel: config.json, model.safetensors, vocab.txt, tokenizer_config.json
           (do_lower_case false), and a pytorch_model.bin (legacy format) holding the same
           weights as BertForPreTraining saves them: "bert." prefix, old LayerNorm.gamma/beta
           names, cls.* heads and the position_ids buffer

plus <name>_reference.safetensors with the inputs (pixel_values, or input_ids and attention_mask)
and the outputs last_hidden_state and pooler_output, and for the dual encoder the projection
matrices and the L2-normalised projected embeddings. Weights and inputs are drawn in float32;
the outputs are computed in float64 and rounded once to float32.

The converter fixtures under converter/ are state dicts saved by torch.save in both formats (and the zip
format with pickle protocol 4):
tensors sharing one storage (a tied weight, an offset view, a transposed non-contiguous view),
F16, BF16 and I64 tensors, with the expected contiguous tensors in expected.safetensors; and a
pickle calling os.system that the reader must refuse.
"""

import json
import math
import os
import struct
from collections import OrderedDict

import torch
import torch.nn.functional as F

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "tests", "MedClip.Tests", "Fixtures", "Pretrained"))

SAFETENSORS_DTYPES = {
    torch.float32: ("F32", "<f4"), torch.float64: ("F64", "<f8"), torch.int64: ("I64", "<i8"),
    torch.int32: ("I32", "<i4"), torch.float16: ("F16", "<f2"),
}


def write_safetensors(path, tensors, metadata=None):
    """safetensors by hand: 8-byte little-endian header length, JSON header padded with spaces to a
    multiple of 8, then the tensors' little-endian bytes in name order."""
    header = {"__metadata__": metadata} if metadata else {}
    blobs = []
    offset = 0
    for key in sorted(tensors):
        t = tensors[key].detach().contiguous()
        if t.dtype == torch.bfloat16:
            dtype, data = "BF16", t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            dtype, numpy_dtype = SAFETENSORS_DTYPES[t.dtype]
            data = t.numpy().astype(numpy_dtype).tobytes()
        header[key] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)
    print(f"{path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors")


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def normal(g, *shape, std=0.2, mean=0.0):
    return torch.randn(*shape, generator=g, dtype=torch.float32) * std + mean


def linear_params(sd, g, name, n_in, n_out, bias=True):
    sd[name + ".weight"] = normal(g, n_out, n_in)
    if bias:
        sd[name + ".bias"] = normal(g, n_out, std=0.05)


def layernorm_params(sd, g, name, width):
    sd[name + ".weight"] = normal(g, width, std=0.1, mean=1.0)
    sd[name + ".bias"] = normal(g, width, std=0.05)


def linear(sd, name, x):
    bias = sd.get(name + ".bias")
    return F.linear(x, sd[name + ".weight"], bias)


def layernorm(sd, name, x, eps):
    return F.layer_norm(x, (x.shape[-1],), sd[name + ".weight"], sd[name + ".bias"], eps)


ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x),
}


def attention(q, k, v, heads, additive_mask):
    """HF's eager attention: softmax(q k^T / sqrt(d) + mask) v, heads split from the last axis."""
    b, t, width = q.shape
    d = width // heads

    def split(x):
        return x.view(b, t, heads, d).transpose(1, 2)

    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(d)
    if additive_mask is not None:
        scores = scores + additive_mask
    context = torch.softmax(scores, dim=-1) @ split(v)
    return context.transpose(1, 2).reshape(b, t, width)


# ---------------------------------------------------------------- ViT (modeling_vit.py)

VIT_CONFIG = {
    "architectures": ["ViTModel"], "model_type": "vit", "hidden_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 2, "intermediate_size": 32, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
    "image_size": 16, "patch_size": 8, "num_channels": 3, "qkv_bias": True, "initializer_range": 0.02,
    "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "encoder_stride": 8,
}


def vit_weights(g, c):
    sd = OrderedDict()
    width, patches = c["hidden_size"], (c["image_size"] // c["patch_size"]) ** 2
    sd["embeddings.cls_token"] = normal(g, 1, 1, width)
    sd["embeddings.position_embeddings"] = normal(g, 1, patches + 1, width)
    sd["embeddings.patch_embeddings.projection.weight"] = normal(g, width, c["num_channels"], c["patch_size"], c["patch_size"])
    sd["embeddings.patch_embeddings.projection.bias"] = normal(g, width, std=0.05)
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for proj in ("query", "key", "value"):
            linear_params(sd, g, p + "attention.attention." + proj, width, width)
        linear_params(sd, g, p + "attention.output.dense", width, width)
        linear_params(sd, g, p + "intermediate.dense", width, c["intermediate_size"])
        linear_params(sd, g, p + "output.dense", c["intermediate_size"], width)
        layernorm_params(sd, g, p + "layernorm_before", width)
        layernorm_params(sd, g, p + "layernorm_after", width)
    layernorm_params(sd, g, "layernorm", width)
    linear_params(sd, g, "pooler.dense", width, width)
    return sd


def vit_forward(sd, c, pixels):
    eps, heads, act = c["layer_norm_eps"], c["num_attention_heads"], ACTIVATIONS[c["hidden_act"]]
    x = F.conv2d(pixels, sd["embeddings.patch_embeddings.projection.weight"], sd["embeddings.patch_embeddings.projection.bias"],
                 stride=c["patch_size"]).flatten(2).transpose(1, 2)
    x = torch.cat([sd["embeddings.cls_token"].expand(x.shape[0], -1, -1), x], dim=1) + sd["embeddings.position_embeddings"]
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        h = layernorm(sd, p + "layernorm_before", x, eps)
        q, k, v = (linear(sd, p + "attention.attention." + n, h) for n in ("query", "key", "value"))
        x = linear(sd, p + "attention.output.dense", attention(q, k, v, heads, None)) + x
        h = layernorm(sd, p + "layernorm_after", x, eps)
        x = linear(sd, p + "output.dense", act(linear(sd, p + "intermediate.dense", h))) + x
    last = layernorm(sd, "layernorm", x, eps)
    return last, torch.tanh(linear(sd, "pooler.dense", last[:, 0]))


# ---------------------------------------------------------------- CLIP (modeling_clip.py)

CLIP_VISION = {
    "hidden_size": 16, "intermediate_size": 40, "num_hidden_layers": 2, "num_attention_heads": 4,
    "image_size": 32, "patch_size": 8, "num_channels": 3, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
    "projection_dim": 8,
}
CLIP_TEXT = {
    "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
    "max_position_embeddings": 6, "vocab_size": 12, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
    "projection_dim": 8,
}
CLIP_CONFIG = {
    "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 8, "logit_scale_init_value": 2.6592,
    "vision_config": CLIP_VISION, "text_config": CLIP_TEXT,
}


def clip_encoder_params(sd, g, prefix, c):
    width = c["hidden_size"]
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear_params(sd, g, p + "self_attn." + proj, width, width)
        layernorm_params(sd, g, p + "layer_norm1", width)
        linear_params(sd, g, p + "mlp.fc1", width, c["intermediate_size"])
        linear_params(sd, g, p + "mlp.fc2", c["intermediate_size"], width)
        layernorm_params(sd, g, p + "layer_norm2", width)


def clip_weights(g):
    sd = OrderedDict()
    v, t = CLIP_VISION, CLIP_TEXT
    patches = (v["image_size"] // v["patch_size"]) ** 2
    sd["text_model.embeddings.token_embedding.weight"] = normal(g, t["vocab_size"], t["hidden_size"])
    sd["text_model.embeddings.position_embedding.weight"] = normal(g, t["max_position_embeddings"], t["hidden_size"])
    sd["text_model.embeddings.position_ids"] = torch.arange(t["max_position_embeddings"]).unsqueeze(0)
    clip_encoder_params(sd, g, "text_model.", t)
    layernorm_params(sd, g, "text_model.final_layer_norm", t["hidden_size"])
    sd["vision_model.embeddings.class_embedding"] = normal(g, v["hidden_size"])
    sd["vision_model.embeddings.patch_embedding.weight"] = normal(g, v["hidden_size"], v["num_channels"], v["patch_size"], v["patch_size"])
    sd["vision_model.embeddings.position_embedding.weight"] = normal(g, patches + 1, v["hidden_size"])
    sd["vision_model.embeddings.position_ids"] = torch.arange(patches + 1).unsqueeze(0)
    layernorm_params(sd, g, "vision_model.pre_layrnorm", v["hidden_size"])
    clip_encoder_params(sd, g, "vision_model.", v)
    layernorm_params(sd, g, "vision_model.post_layernorm", v["hidden_size"])
    linear_params(sd, g, "visual_projection", v["hidden_size"], CLIP_CONFIG["projection_dim"], bias=False)
    linear_params(sd, g, "text_projection", t["hidden_size"], CLIP_CONFIG["projection_dim"], bias=False)
    sd["logit_scale"] = torch.tensor(CLIP_CONFIG["logit_scale_init_value"])
    return sd


def clip_vision_forward(sd, pixels):
    c = CLIP_VISION
    eps, heads, act = c["layer_norm_eps"], c["num_attention_heads"], ACTIVATIONS[c["hidden_act"]]
    x = F.conv2d(pixels, sd["vision_model.embeddings.patch_embedding.weight"], stride=c["patch_size"]).flatten(2).transpose(1, 2)
    cls = sd["vision_model.embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + sd["vision_model.embeddings.position_embedding.weight"]
    x = layernorm(sd, "vision_model.pre_layrnorm", x, eps)
    for i in range(c["num_hidden_layers"]):
        p = f"vision_model.encoder.layers.{i}."
        h = layernorm(sd, p + "layer_norm1", x, eps)
        q, k, v = (linear(sd, p + "self_attn." + n, h) for n in ("q_proj", "k_proj", "v_proj"))
        x = linear(sd, p + "self_attn.out_proj", attention(q, k, v, heads, None)) + x
        h = layernorm(sd, p + "layer_norm2", x, eps)
        x = linear(sd, p + "mlp.fc2", act(linear(sd, p + "mlp.fc1", h))) + x
    return x, layernorm(sd, "vision_model.post_layernorm", x[:, 0], eps)


# ---------------------------------------------------------------- BERT (modeling_bert.py)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "heart", "is", "normal", "size", "no",
         "pleural", "effusion", "Lung", "lung", "##s", "clear", ".", ",", "mild", "cardio", "##megaly",
         "left", "right", "base", "opacity", "of", "and", "with", "seen"]
BERT_CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "vocab_size": len(VOCAB), "hidden_size": 16,
    "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 24, "hidden_act": "gelu",
    "layer_norm_eps": 1e-12, "max_position_embeddings": 12, "type_vocab_size": 2, "initializer_range": 0.02,
    "pad_token_id": 0, "position_embedding_type": "absolute", "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}


def bert_weights(g, c):
    sd = OrderedDict()
    width = c["hidden_size"]
    sd["embeddings.word_embeddings.weight"] = normal(g, c["vocab_size"], width)
    sd["embeddings.position_embeddings.weight"] = normal(g, c["max_position_embeddings"], width)
    sd["embeddings.token_type_embeddings.weight"] = normal(g, c["type_vocab_size"], width)
    layernorm_params(sd, g, "embeddings.LayerNorm", width)
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for proj in ("query", "key", "value"):
            linear_params(sd, g, p + "attention.self." + proj, width, width)
        linear_params(sd, g, p + "attention.output.dense", width, width)
        layernorm_params(sd, g, p + "attention.output.LayerNorm", width)
        linear_params(sd, g, p + "intermediate.dense", width, c["intermediate_size"])
        linear_params(sd, g, p + "output.dense", c["intermediate_size"], width)
        layernorm_params(sd, g, p + "output.LayerNorm", width)
    linear_params(sd, g, "pooler.dense", width, width)
    return sd


def bert_forward(sd, c, ids, mask):
    eps, heads, act = c["layer_norm_eps"], c["num_attention_heads"], ACTIVATIONS[c["hidden_act"]]
    t = ids.shape[1]
    x = (sd["embeddings.word_embeddings.weight"][ids] + sd["embeddings.position_embeddings.weight"][:t]
         + sd["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)])
    x = layernorm(sd, "embeddings.LayerNorm", x, eps)
    additive = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
    for i in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (linear(sd, p + "attention.self." + n, x) for n in ("query", "key", "value"))
        x = layernorm(sd, p + "attention.output.LayerNorm", linear(sd, p + "attention.output.dense", attention(q, k, v, heads, additive)) + x, eps)
        h = act(linear(sd, p + "intermediate.dense", x))
        x = layernorm(sd, p + "output.LayerNorm", linear(sd, p + "output.dense", h) + x, eps)
    return x, torch.tanh(linear(sd, "pooler.dense", x[:, 0]))


def bert_for_pretraining(sd, g, c):
    """The same weights as BertForPreTraining saves them in old checkpoints: bert. prefix, LayerNorm.gamma/beta,
    the position_ids buffer, and the cls.* heads (whose decoder is tied to the word embeddings)."""
    old = OrderedDict()
    for name, t in sd.items():
        name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        old["bert." + name] = t
    old["bert.embeddings.position_ids"] = torch.arange(c["max_position_embeddings"]).unsqueeze(0)
    width = c["hidden_size"]
    linear_params(old, g, "cls.predictions.transform.dense", width, width)
    old["cls.predictions.transform.LayerNorm.gamma"] = normal(g, width, mean=1.0)
    old["cls.predictions.transform.LayerNorm.beta"] = normal(g, width)
    old["cls.predictions.bias"] = normal(g, c["vocab_size"])
    old["cls.predictions.decoder.weight"] = old["bert.embeddings.word_embeddings.weight"]
    linear_params(old, g, "cls.seq_relationship", width, 2)
    return old


# ---------------------------------------------------------------- folders

def as_double(sd):
    return {k: (v.double() if v.is_floating_point() else v) for k, v in sd.items()}


def f32(t):
    return t.to(torch.float32)


def make_vit(g):
    folder = os.path.join(OUT, "vit")
    os.makedirs(folder, exist_ok=True)
    sd = vit_weights(g, VIT_CONFIG)
    write_json(os.path.join(folder, "config.json"), VIT_CONFIG)
    write_json(os.path.join(folder, "preprocessor_config.json"), {
        "image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 16, "width": 16},
        "do_normalize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2,
        "do_rescale": True, "rescale_factor": 1 / 255})
    write_safetensors(os.path.join(folder, "model.safetensors"), sd, {"format": "pt"})
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    pixels = normal(g, 2, 3, 16, 16, std=1.0)
    last, pooled = vit_forward(as_double(sd), VIT_CONFIG, pixels.double())
    return sd, pixels, last, pooled


def make_clip(g):
    folder = os.path.join(OUT, "clip")
    os.makedirs(folder, exist_ok=True)
    sd = clip_weights(g)
    write_json(os.path.join(folder, "config.json"), CLIP_CONFIG)
    write_json(os.path.join(folder, "preprocessor_config.json"), {
        "image_processor_type": "CLIPImageProcessor", "do_resize": True, "size": {"shortest_edge": 32},
        "do_center_crop": True, "crop_size": {"height": 32, "width": 32}, "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255})
    write_safetensors(os.path.join(folder, "model.safetensors"), sd, {"format": "pt"})
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"), _use_new_zipfile_serialization=False)
    pixels = normal(g, 2, 3, 32, 32, std=1.0)
    last, pooled = clip_vision_forward(as_double(sd), pixels.double())
    return sd, pixels, last, pooled


def make_bert(g):
    folder = os.path.join(OUT, "bert")
    os.makedirs(folder, exist_ok=True)
    sd = bert_weights(g, BERT_CONFIG)
    write_json(os.path.join(folder, "config.json"), BERT_CONFIG)
    write_json(os.path.join(folder, "tokenizer_config.json"), {"tokenizer_class": "BertTokenizer", "do_lower_case": False})
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    write_safetensors(os.path.join(folder, "model.safetensors"), sd, {"format": "pt"})
    torch.save(bert_for_pretraining(sd, g, BERT_CONFIG), os.path.join(folder, "pytorch_model.bin"),
               _use_new_zipfile_serialization=False)
    ids = torch.tensor([[2, 13, 15, 16, 17, 3, 0, 0, 0, 0], [2, 10, 11, 12, 17, 19, 20, 21, 17, 3]], dtype=torch.int64)
    mask = (ids != 0).to(torch.int64)
    last, pooled = bert_forward(as_double(sd), BERT_CONFIG, ids, mask)
    return sd, ids, mask, last, pooled


def make_converter_fixtures():
    """State dicts exercising the reader: shared storages, views, dtypes; and a refused pickle."""
    folder = os.path.join(OUT, "converter")
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    base = normal(g, 4, 6)
    sd = OrderedDict()
    sd["embeddings.weight"] = base
    sd["decoder.weight"] = base                     # tied: the same tensor twice
    sd["rows"] = base[1:3]                         # a view at a storage offset
    sd["transposed"] = base.t()                    # non-contiguous strides on the shared storage
    sd["strided"] = base[:, ::2]                   # non-contiguous with a step
    sd["half"] = normal(g, 3, 2).half()
    sd["bfloat"] = normal(g, 5).bfloat16()
    sd["position_ids"] = torch.arange(5).unsqueeze(0)
    sd["scalar"] = torch.tensor(2.5)
    sd["double"] = normal(g, 2).double()
    torch.save(sd, os.path.join(folder, "zip.bin"))
    torch.save(sd, os.path.join(folder, "legacy.bin"), _use_new_zipfile_serialization=False)
    # Protocol 4 instead of torch's default 2: FRAME, SHORT_BINUNICODE, STACK_GLOBAL and MEMOIZE.
    torch.save(sd, os.path.join(folder, "zip_protocol4.bin"), pickle_protocol=4)
    write_safetensors(os.path.join(folder, "expected.safetensors"), {k: v.contiguous() for k, v in sd.items()})

    class Exploit:
        def __reduce__(self):
            return os.system, ("echo this must never run",)

    torch.save({"weight": torch.zeros(2), "payload": Exploit()}, os.path.join(folder, "malicious.bin"))
    torch.save({"weight": torch.zeros(2), "payload": Exploit()}, os.path.join(folder, "malicious_legacy.bin"),
               _use_new_zipfile_serialization=False)
    for name in sorted(os.listdir(folder)):
        print(f"{os.path.join(folder, name)}: {os.path.getsize(os.path.join(folder, name))} bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    g = torch.Generator().manual_seed(2024)
    vit_sd, vit_pixels, vit_last, vit_pooled = make_vit(g)
    clip_sd, clip_pixels, clip_last, clip_pooled = make_clip(g)
    bert_sd, ids, mask, bert_last, bert_pooled = make_bert(g)

    write_safetensors(os.path.join(OUT, "vit_reference.safetensors"), {
        "pixel_values": vit_pixels, "last_hidden_state": f32(vit_last), "pooler_output": f32(vit_pooled)})
    write_safetensors(os.path.join(OUT, "clip_reference.safetensors"), {
        "pixel_values": clip_pixels, "last_hidden_state": f32(clip_last), "pooler_output": f32(clip_pooled)})
    write_safetensors(os.path.join(OUT, "bert_reference.safetensors"), {
        "input_ids": ids.to(torch.int32), "attention_mask": mask.to(torch.int32),
        "last_hidden_state": f32(bert_last), "pooler_output": f32(bert_pooled)})

    # VisionTextDualEncoderModel over vit/ and bert/: bias-free projections of the pooler outputs, L2-normalised.
    projection_dim = 8
    visual = normal(g, projection_dim, VIT_CONFIG["hidden_size"])
    text = normal(g, projection_dim, BERT_CONFIG["hidden_size"])
    image_embeds = F.normalize(vit_pooled @ visual.double().t(), dim=-1)
    text_embeds = F.normalize(bert_pooled @ text.double().t(), dim=-1)
    write_safetensors(os.path.join(OUT, "dual_encoder_reference.safetensors"), {
        "visual_projection.weight": visual, "text_projection.weight": text,
        "image_embeds": f32(image_embeds), "text_embeds": f32(text_embeds)})

    make_converter_fixtures()


if __name__ == "__main__":
    main()
