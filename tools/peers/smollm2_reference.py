"""Reference data for qharness's tests on SmolLM2-135M-Instruct (models/smollm2/model.gguf),
made once with independent implementations and committed as tests/data/smollm2/reference.json:

- token ids of WikiText-2 test and of the TinyStories text from llama.cpp's tokenizer
  (llama-cpp-python, vocab only) and from Hugging Face's `tokenizers` built on the file's own
  vocabulary and merges with the model's pre-tokenizer (tools/peers/hf_tokenizer.py): kept as
  the count and the sha256 of the ids written one per line;
- llama.cpp's perplexity under llama-perplexity's protocol (non-overlapping chunks of CTX
  tokens, the second half of each scored, no BOS since tokenizer.ggml.add_bos_token is false),
  computed here with llama.cpp's own forward pass through llama-cpp-python's low-level API;
- logits at chosen positions of two texts from a float64 NumPy forward pass of the same
  weights, dequantized by the `gguf` package (Q4_1 and Q8_0 as ggml defines them): Llama with
  grouped-query attention, RoPE on adjacent pairs (llama.cpp's "normal" rope, theta from the
  file), SwiGLU, RMSNorm.  It shares no code with qharness.

The peers live in a virtual environment under .peers/ (git-ignored):
    python3 -m venv .peers/venv
    .peers/venv/bin/pip install transformers==4.46.3 gguf==0.10.0 tokenizers==0.20.3 sentencepiece==0.2.0 "numpy<2" \
        llama-cpp-python==0.3.2
    .peers/venv/bin/python tools/peers/smollm2_reference.py
"""
import ctypes
import hashlib
import json
import math
import os
import subprocess
import sys

import gguf
import llama_cpp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models/smollm2/model.gguf")
TEXTS = {
    "wikitext2-test": "datasets/wikitext-2-raw/wiki.test.raw",
    "tinystories-valid1000": "datasets/tinystories/valid_first1000.txt",
}
PPL_CTX, PPL_CHECKPOINTS = 512, (8, 40)
OUT = os.path.join(ROOT, "tests/data/smollm2/reference.json")


def ids_digest(ids):
    text = "".join(f"{i}\n" for i in ids).encode()
    return {"n": len(ids), "sha256": hashlib.sha256(text).hexdigest(), "first": ids[:16]}


def llamacpp_tokens(path):
    m = llama_cpp.Llama(model_path=MODEL, vocab_only=True, verbose=False)
    data = open(os.path.join(ROOT, path), "rb").read()
    return m.tokenize(data, add_bos=False, special=False)


def hf_tokens(path):
    out = "/tmp/qh-hf-ids.txt"
    subprocess.run([sys.executable, os.path.join(ROOT, "tools/peers/hf_tokenizer.py"), MODEL, os.path.join(ROOT, path), out],
                   check=True, stdout=subprocess.DEVNULL)
    return [int(x) for x in open(out).read().split()]


def llamacpp_perplexity(ids, ctx, checkpoints):
    """llama-perplexity's loop: chunk k is ids[k*ctx:(k+1)*ctx]; positions ctx/2 .. ctx-2 predict
    the next token; the perplexity after each number of chunks in checkpoints."""
    m = llama_cpp.Llama(model_path=MODEL, n_ctx=ctx, n_batch=ctx, logits_all=True, verbose=False, n_threads=2)
    first = ctx // 2
    nll, count, runs = 0.0, 0, []
    for k in range(max(checkpoints)):
        tokens = ids[k * ctx:(k + 1) * ctx]
        m.reset()
        m._ctx.kv_cache_clear()
        m.eval(tokens)
        logits = np.array(m.scores[:ctx], dtype=np.float64)
        for j in range(first, ctx - 1):
            row = logits[j]
            mx = row.max()
            lse = mx + math.log(np.exp(row - mx).sum())
            nll += lse - row[tokens[j + 1]]
            count += 1
        if k + 1 in checkpoints:
            runs.append({"ctx": ctx, "chunks": k + 1, "first_scored": first + 1, "tokens_scored": count, "mean_nll": nll / count,
                         "ppl": math.exp(nll / count)})
    return {"protocol": "llama-perplexity's: chunks of ctx, no BOS (add_bos_token false), the second half scored",
            "runs": runs}


# ---- a float64 NumPy forward pass of the dequantized weights ------------------------------

def load_weights():
    r = gguf.GGUFReader(MODEL)
    w = {}
    for t in r.tensors:
        a = gguf.dequantize(t.data, t.tensor_type).astype(np.float64)
        w[t.name] = a.reshape([int(x) for x in reversed(t.shape)]) if a.ndim == 1 and len(t.shape) > 1 else a
    kv = {}
    for k in ("llama.block_count", "llama.embedding_length", "llama.attention.head_count", "llama.attention.head_count_kv",
              "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"):
        kv[k] = r.fields[k].parts[-1][0]
    return w, kv


def forward(w, kv, tokens):
    L, C = int(kv["llama.block_count"]), int(kv["llama.embedding_length"])
    H, HKV = int(kv["llama.attention.head_count"]), int(kv["llama.attention.head_count_kv"])
    theta, eps = float(kv["llama.rope.freq_base"]), float(kv["llama.attention.layer_norm_rms_epsilon"])
    hs, T = C // H, len(tokens)

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x):  # (T, heads, hs): adjacent pairs (2i, 2i+1) rotate by pos * theta^(-2i/hs)
        pos = np.arange(T, dtype=np.float64)[:, None]
        freq = theta ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)
        ang = pos * freq[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    x = w["token_embd.weight"][tokens]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(L):
        p = f"blk.{l}."
        h = rms(x, w[p + "attn_norm.weight"])
        q = rope((h @ w[p + "attn_q.weight"].T).reshape(T, H, hs))
        k = rope((h @ w[p + "attn_k.weight"].T).reshape(T, HKV, hs))
        v = (h @ w[p + "attn_v.weight"].T).reshape(T, HKV, hs)
        att = np.empty((T, H, hs))
        for hh in range(H):
            kh = hh // (H // HKV)
            s = q[:, hh, :] @ k[:, kh, :].T / math.sqrt(hs) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            att[:, hh, :] = (s / s.sum(-1, keepdims=True)) @ v[:, kh, :]
        x = x + att.reshape(T, C) @ w[p + "attn_output.weight"].T
        h = rms(x, w[p + "ffn_norm.weight"])
        g, u = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ w[p + "ffn_down.weight"].T
    x = rms(x, w["output_norm.weight"])
    head = w["output.weight"] if "output.weight" in w else w["token_embd.weight"]
    return x @ head.T


def main():
    ref = {"model": "models/smollm2/model.gguf",
           "model_sha256": hashlib.sha256(open(MODEL, "rb").read()).hexdigest(),
           "tools": {"llama-cpp-python": llama_cpp.__version__, "numpy": np.__version__,
                     "tokenizers": __import__("tokenizers").__version__, "gguf": "0.10.0"},
           "tokenizer": {}, "perplexity": {}, "logits": []}
    for name, path in TEXTS.items():
        data = open(os.path.join(ROOT, path), "rb").read()
        lc, hf = llamacpp_tokens(path), hf_tokens(path)
        ref["tokenizer"][name] = {"text": path, "text_sha256": hashlib.sha256(data).hexdigest(),
                                  "llama.cpp": ids_digest(lc), "tokenizers": ids_digest(hf)}
        print(name, len(lc), len(hf), lc == hf, flush=True)
        if name == "wikitext2-test":
            ref["perplexity"][name] = llamacpp_perplexity(lc, PPL_CTX, PPL_CHECKPOINTS)
            print("llama.cpp perplexity", [(r["chunks"], r["ppl"]) for r in ref["perplexity"][name]["runs"]], flush=True)
    w, kv = load_weights()
    # the same protocol through the float64 forward: what the perplexity is without llama.cpp's
    # 8-bit activations (Q4_1 x Q8_1 dot products) and F16 KV cache
    lc = llamacpp_tokens(TEXTS["wikitext2-test"])
    nll, count, first = 0.0, 0, PPL_CTX // 2
    for k in range(PPL_CHECKPOINTS[0]):
        tokens = lc[k * PPL_CTX:(k + 1) * PPL_CTX]
        logits = forward(w, kv, tokens)
        for j in range(first, PPL_CTX - 1):
            row = logits[j]
            mx = row.max()
            nll += mx + math.log(np.exp(row - mx).sum()) - row[tokens[j + 1]]
            count += 1
    ref["perplexity"]["wikitext2-test"]["float64"] = {"ctx": PPL_CTX, "chunks": PPL_CHECKPOINTS[0], "tokens_scored": count,
                                                     "mean_nll": nll / count, "ppl": math.exp(nll / count)}
    print("float64 perplexity", math.exp(nll / count), flush=True)
    m = llama_cpp.Llama(model_path=MODEL, vocab_only=True, verbose=False)
    for text, positions in (("The capital of France is Paris. The capital of Germany is", [0, 5, 11]),
                            ("Once upon a time, there was a little girl named Lily. She loved to", [0, 7, 15])):
        tokens = m.tokenize(text.encode(), add_bos=False, special=False)
        logits = forward(w, kv, tokens)
        positions = [p if p < len(tokens) else len(tokens) - 1 for p in positions]
        # a sample of each row: every 97th logit and the 32 largest (the whole row is 49,152)
        rows = {}
        for p in positions:
            idx = sorted(set(range(0, logits.shape[1], 97)) | set(int(i) for i in np.argsort(-logits[p])[:32]))
            rows[str(p)] = {"index": idx, "value": [float(f"{logits[p][i]:.6f}") for i in idx]}
        ref["logits"].append({"text": text, "tokens": tokens, "positions": positions, "rows": rows,
                              "argmax": {str(p): int(np.argmax(logits[p])) for p in positions}})
        print(text, [int(np.argmax(logits[p])) for p in positions], flush=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(f"{OUT}: {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
