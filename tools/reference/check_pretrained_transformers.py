"""Checks MedClip's pretrained-tower work against the real transformers, where it is installed (the GPU image):

1. the fixtures of make_pretrained_fixtures.py: transformers' ViTModel, CLIPVisionModel and BertModel load the
   fixture folders and must reproduce the stored last_hidden_state and pooler_output, which the C# tests match;
2. with --checkpoint, a MedClip checkpoint trained from those folders: VisionTextDualEncoderModel.from_pretrained
   must load it, and its L2-normalised text features for --texts (one per line, tokenised by BertTokenizer from the
   checkpoint, padded to its context_length) must equal the text_embeds that `medclip-train embed` wrote to --embeds.

Prints one JSON line with every relative error (max|a - b| / max|b|) and "ok"; exits 1 when one is 1e-4 or more.

    python3 tools/reference/check_pretrained_transformers.py [--checkpoint DIR --texts FILE --embeds FILE]
"""

import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import BertModel, BertTokenizer, CLIPVisionModel, ViTModel, VisionTextDualEncoderModel

FIXTURES = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                         "tests", "MedClip.Tests", "Fixtures", "Pretrained"))
LIMIT = 1e-4


def relative(ours, reference):
    ours, reference = ours.double().cpu(), reference.double().cpu()
    return ((ours - reference).abs().max() / reference.abs().max()).item()


def check_tower(results, name, model_class, inputs):
    reference = load_file(os.path.join(FIXTURES, f"{name}_reference.safetensors"))
    model = model_class.from_pretrained(os.path.join(FIXTURES, name)).double().eval()
    with torch.no_grad():
        out = model(**inputs(reference))
    results[name] = {
        "last_hidden_state": relative(out.last_hidden_state, reference["last_hidden_state"]),
        "pooler_output": relative(out.pooler_output, reference["pooler_output"]),
    }


def check_checkpoint(results, checkpoint, texts_path, embeds_path):
    model = VisionTextDualEncoderModel.from_pretrained(checkpoint).eval()
    tokenizer = BertTokenizer.from_pretrained(checkpoint)
    with open(os.path.join(checkpoint, "config.json")) as f:
        context = json.load(f)["context_length"]
    with open(texts_path) as f:
        texts = [line.rstrip("\n") for line in f if line.strip()]
    batch = tokenizer(texts, padding="max_length", truncation=True, max_length=context, return_tensors="pt")
    with torch.no_grad():
        features = model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    # transformers 5 returns the text tower's BaseModelOutputWithPooling with the projection written into
    # pooler_output; 4.x returned the projected tensor itself.
    if not torch.is_tensor(features):
        features = features.pooler_output
    features = torch.nn.functional.normalize(features, dim=-1)
    ours = load_file(embeds_path)["text_embeds"]
    results["checkpoint_text_embeds"] = relative(ours, features)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint")
    parser.add_argument("--texts")
    parser.add_argument("--embeds")
    args = parser.parse_args()

    results = {}
    check_tower(results, "vit", ViTModel, lambda r: {"pixel_values": r["pixel_values"].double()})
    check_tower(results, "clip", CLIPVisionModel, lambda r: {"pixel_values": r["pixel_values"].double()})
    check_tower(results, "bert", BertModel, lambda r: {"input_ids": r["input_ids"].long(), "attention_mask": r["attention_mask"].long()})
    if args.checkpoint:
        check_checkpoint(results, args.checkpoint, args.texts, args.embeds)

    def errors(value):
        return [v for x in value.values() for v in errors(x)] if isinstance(value, dict) else [value]

    results["ok"] = all(e < LIMIT for e in errors(results))
    print(json.dumps(results))
    sys.exit(0 if results["ok"] else 1)


if __name__ == "__main__":
    main()
