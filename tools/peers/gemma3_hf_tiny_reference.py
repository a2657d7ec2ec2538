"""A tiny Hugging Face Gemma 3 directory and transformers' logits on it, for qharness's reader of
Gemma3ForCausalLM directories (tests/check_gemma3.c, `hf_directory_equals_transformers`).

No real Gemma 3 checkpoint in Hugging Face's format can be fetched here (Google's are gated and
not on PyPI), so transformers itself writes one: a Gemma3ForCausalLM of transformers 4.53.3 with
random weights (seed 0), small enough to commit, saved with save_pretrained (config.json +
model.safetensors, float32).  It has what the real files have: the norms' weights stored as w
(Gemma computes x * (1 + w)), set away from 0 here so that a reader forgetting the 1 fails;
per-head query and key norms; one key/value head shared by two query heads; head_dim (16)
apart from hidden_size / heads; seven layers, so that layer 5 is global and the others attend
in a window of 8 positions with RoPE base rope_local_base_freq; the head tied to the embedding.
The logits of every position of one sequence of 24 ids (longer than the window) come from
transformers' own float32 forward, eager attention, and are written to
tests/data/gemma3/hf-tiny-logits.json.

    .peers/bnb/bin/python tools/peers/gemma3_hf_tiny_reference.py    # the environment of gemma3_transformers_reference.py
"""
import json
import os

import torch
import transformers
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIR = os.path.join(ROOT, "tests/data/gemma3/hf-tiny")
OUT = os.path.join(ROOT, "tests/data/gemma3/hf-tiny-logits.json")


def main():
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=7, num_attention_heads=2,
                           num_key_value_heads=1, head_dim=16, max_position_embeddings=64, sliding_window=8,
                           query_pre_attn_scalar=16, rope_theta=1_000_000.0, rope_local_base_freq=10_000.0,
                           initializer_range=0.2, tie_word_embeddings=True, attn_implementation="eager")
    model = Gemma3ForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(torch.randn_like(p) * 0.3)
    model.save_pretrained(DIR, safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(DIR, extra)
        if os.path.exists(path):
            os.remove(path)
    ids = torch.randint(0, cfg.vocab_size, (1, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(ids).logits[0].double()
    out = {"model": "tests/data/gemma3/hf-tiny", "tools": {"transformers": transformers.__version__, "torch": torch.__version__},
           "layer_types": cfg.layer_types, "ids": ids[0].tolist(),
           "logits": [[float(f"{v:.7g}") for v in row] for row in logits.tolist()]}
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(cfg.layer_types, logits.shape, float(logits.abs().max()), f"{OUT}: {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
