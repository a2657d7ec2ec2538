"""Logits of Gemma 3 270M from Hugging Face transformers' own Gemma 3 code (Gemma3ForCausalLM),
committed as tests/data/gemma3/transformers.json for qharness's test
`logits_equal_transformers` (issue 33: "logits within 1e-3 of a PyTorch forward of the same
dequantized weights").

The weights are those of models/gemma3/model.gguf (the Q4_K_M file `make deps` fetches),
dequantized to float32 by the `gguf` package, put into a Gemma3ForCausalLM built from the file's
own metadata (Gemma3TextConfig), and run by transformers' float32 forward on the CPU (eager
attention).  transformers' GGUF loader is not used: it has no Gemma 3 mapping in this version,
so the names are mapped here, one line each, and nothing else is done to the tensors but this:
llama.cpp's converter stores Gemma's RMSNorm weights as 1 + w, and transformers' Gemma3RMSNorm
multiplies by 1 + weight, so 1 is taken off every norm weight.

The token sequences and positions are those of tests/data/gemma3/reference.json (the float64
NumPy forward of tools/peers/gemma3_reference.py, llama.cpp's tokenizer), so the two references
can be held against each other too; one text is longer than the 512-position sliding window.

    python3 -m venv .peers/bnb                      # torch 2.5.1 from PyPI (CPU is enough)
    .peers/bnb/bin/pip install torch==2.5.1 transformers==4.53.3 gguf==0.17.1 "numpy<2.3"
    .peers/bnb/bin/python tools/peers/gemma3_transformers_reference.py
"""
import hashlib
import json
import os

import gguf
import numpy as np
import torch
import transformers
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models/gemma3/model.gguf")
NUMPY_REF = os.path.join(ROOT, "tests/data/gemma3/reference.json")
OUT = os.path.join(ROOT, "tests/data/gemma3/transformers.json")

# GGUF name (after blk.N.) -> transformers name (after model.layers.N.), and whether it is a norm
BLOCK = {
    "attn_norm.weight": ("input_layernorm.weight", True),
    "attn_q.weight": ("self_attn.q_proj.weight", False),
    "attn_k.weight": ("self_attn.k_proj.weight", False),
    "attn_v.weight": ("self_attn.v_proj.weight", False),
    "attn_output.weight": ("self_attn.o_proj.weight", False),
    "attn_q_norm.weight": ("self_attn.q_norm.weight", True),
    "attn_k_norm.weight": ("self_attn.k_norm.weight", True),
    "post_attention_norm.weight": ("post_attention_layernorm.weight", True),
    "ffn_norm.weight": ("pre_feedforward_layernorm.weight", True),
    "post_ffw_norm.weight": ("post_feedforward_layernorm.weight", True),
    "ffn_gate.weight": ("mlp.gate_proj.weight", False),
    "ffn_up.weight": ("mlp.up_proj.weight", False),
    "ffn_down.weight": ("mlp.down_proj.weight", False),
}


def field(r, key):
    return r.fields["gemma3." + key].parts[-1][0]


def main():
    r = gguf.GGUFReader(MODEL)
    n_layer = int(field(r, "block_count"))
    window = int(field(r, "attention.sliding_window"))
    cfg = Gemma3TextConfig(
        vocab_size=len(r.fields["tokenizer.ggml.tokens"].data),
        hidden_size=int(field(r, "embedding_length")),
        intermediate_size=int(field(r, "feed_forward_length")),
        num_hidden_layers=n_layer,
        num_attention_heads=int(field(r, "attention.head_count")),
        num_key_value_heads=int(field(r, "attention.head_count_kv")),
        head_dim=int(field(r, "attention.key_length")),
        query_pre_attn_scalar=int(field(r, "attention.key_length")),  # llama.cpp scales queries by 1/sqrt(key_length)
        rms_norm_eps=float(field(r, "attention.layer_norm_rms_epsilon")),
        rope_theta=float(field(r, "rope.freq_base")),  # the global layers'
        rope_local_base_freq=10000.0,  # the sliding-window layers' (llama.cpp's gemma3 graph)
        sliding_window=window,
        layer_types=["full_attention" if l % 6 == 5 else "sliding_attention" for l in range(n_layer)],
        max_position_embeddings=int(field(r, "context_length")),
        hidden_activation="gelu_pytorch_tanh",
        final_logit_softcapping=None,
        attn_logit_softcapping=None,
        rope_scaling=None,
        tie_word_embeddings=True,
        torch_dtype="float32",
        attn_implementation="eager",
    )
    model = Gemma3ForCausalLM(cfg).to(torch.float32).eval()
    state = {}
    for t in r.tensors:
        a = gguf.dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])
        if t.name == "token_embd.weight":
            state["model.embed_tokens.weight"] = torch.from_numpy(a)
        elif t.name == "output_norm.weight":
            state["model.norm.weight"] = torch.from_numpy(a - 1.0)
        else:
            _, l, rest = t.name.split(".", 2)
            name, is_norm = BLOCK[rest]
            state[f"model.layers.{l}.{name}"] = torch.from_numpy(a - 1.0 if is_norm else a)
    state["lm_head.weight"] = state["model.embed_tokens.weight"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and not [m for m in missing if m != "lm_head.weight"], (missing, unexpected)

    numpy_ref = json.load(open(NUMPY_REF))
    out = {"model": "models/gemma3/model.gguf", "model_sha256": hashlib.sha256(open(MODEL, "rb").read()).hexdigest(),
           "tools": {"transformers": transformers.__version__, "torch": torch.__version__, "gguf": "0.17.1",
                     "numpy": np.__version__},
           "forward": "transformers Gemma3ForCausalLM, float32, eager attention, CPU; weights dequantized by gguf-py",
           "logits": []}
    worst_vs_numpy = 0.0
    for case in numpy_ref["logits"]:
        tokens, positions = case["tokens"], case["positions"]
        with torch.no_grad():
            logits = model(torch.tensor([tokens])).logits[0].double().numpy()
        rows = {}
        for p in positions:
            row = logits[p]
            want = case["rows"][str(p)]
            for j, v in zip(want["index"], want["value"]):
                worst_vs_numpy = max(worst_vs_numpy, abs(row[j] - v))
            idx = sorted(set(range(0, row.shape[0], 997)) | set(int(j) for j in np.argsort(-row)[:32]))
            rows[str(p)] = {"index": idx, "value": [float(f"{row[j]:.6f}") for j in idx]}
        entry = {"tokens": tokens, "positions": positions, "rows": rows,
                 "argmax": {str(p): int(np.argmax(logits[p])) for p in positions}}
        for k in ("text", "text_from"):
            if k in case:
                entry[k] = case[k]
        out["logits"].append(entry)
        print(len(tokens), positions, [int(np.argmax(logits[p])) for p in positions], flush=True)
    out["largest_difference_from_the_numpy_float64_reference"] = float(f"{worst_vs_numpy:.3g}")
    print("largest |transformers - NumPy float64| over the reference rows:", worst_vs_numpy)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"{OUT}: {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
