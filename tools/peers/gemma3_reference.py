"""Reference data for qharness's tests on Gemma 3 270M (models/gemma3/model.gguf, the Q4_K_M file
fetched by `make deps`), made once with independent implementations and committed as
tests/data/gemma3/reference.json:

- token ids of WikiText-2 test and of the TinyStories text from llama.cpp's tokenizer
  (llama-cpp-python 0.3.16, vocab only, no special-token parsing), kept as the count, the
  sha256 of the ids written one per line, and the first ids;
- llama.cpp's perplexity under llama-perplexity's protocol: the text tokenized with the BOS the
  file asks for (tokenizer.ggml.add_bos_token), non-overlapping chunks of CTX tokens, the first
  token of each chunk replaced by the BOS, the second half of each chunk scored; CTX is 1024,
  twice the sliding window of 512, so the windowed layers' mask is exercised;
- logits at chosen positions from a float64 NumPy forward pass of the same weights, dequantized
  by the `gguf` package (Q5_0, Q8_0, Q4_K, Q6_K as ggml defines them), written here from
  llama.cpp's gemma3 graph (src/models/gemma3.cpp): embeddings times sqrt(n_embd); RMSNorm
  before and after attention and MLP (the file's norm weights already hold Gemma's 1 + w);
  RMSNorm of every query and key head; NeoX-order RoPE, base 10000 on the sliding-window layers
  and rope.freq_base on every sixth (l % 6 == 5, global) layer; queries scaled by
  1/sqrt(key_length); a sliding window of `attention.sliding_window` positions (a query at p sees
  p - 511 .. p); GeGLU with tanh-approximated GELU; the head tied to the embedding.  One text
  is longer than the window.  It shares no code with qharness.

Hugging Face transformers' own Gemma 3 forward (torch 2) on the same weights and texts is the
second reference: tools/peers/gemma3_transformers_reference.py, tests/data/gemma3/transformers.json.

The peers live in a virtual environment under .peers/ (git-ignored):
    python3 -m venv .peers/llama316
    .peers/llama316/bin/pip install "numpy<2" gguf==0.17.1 llama-cpp-python==0.3.16
    .peers/llama316/bin/python tools/peers/gemma3_reference.py
"""
import hashlib
import json
import math
import os

import gguf
import llama_cpp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models/gemma3/model.gguf")
TEXTS = {
    "wikitext2-test": "datasets/wikitext-2-raw/wiki.test.raw",
    "tinystories-valid1000": "datasets/tinystories/valid_first1000.txt",
}
PPL_CTX, PPL_CHECKPOINTS = 1024, (2, 8)
OUT = os.path.join(ROOT, "tests/data/gemma3/reference.json")


def ids_digest(ids):
    text = "".join(f"{i}\n" for i in ids).encode()
    return {"n": len(ids), "sha256": hashlib.sha256(text).hexdigest(), "first": ids[:16]}


def vocab():
    return llama_cpp.Llama(model_path=MODEL, vocab_only=True, verbose=False)


def llamacpp_perplexity(ids, ctx, checkpoints):
    m = llama_cpp.Llama(model_path=MODEL, n_ctx=ctx, n_batch=ctx, n_ubatch=ctx, logits_all=True, verbose=False, n_threads=2)
    bos = m.token_bos()
    tokens_all = [bos] + ids
    first = ctx // 2
    nll, count, runs = 0.0, 0, []
    for k in range(max(checkpoints)):
        tokens = list(tokens_all[k * ctx:(k + 1) * ctx])
        tokens[0] = bos
        m.reset()
        m._ctx.kv_cache_clear()
        m.eval(tokens)
        logits = np.array(m.scores[:ctx], dtype=np.float64)
        for j in range(first, ctx - 1):
            row = logits[j]
            mx = row.max()
            nll += mx + math.log(np.exp(row - mx).sum()) - row[tokens[j + 1]]
            count += 1
        if k + 1 in checkpoints:
            runs.append({"ctx": ctx, "chunks": k + 1, "first_scored": first + 1, "tokens_scored": count, "mean_nll": nll / count,
                         "ppl": math.exp(nll / count)})
    return {"protocol": "llama-perplexity's: BOS in front of the text and of every chunk (add_bos_token true), chunks of ctx, "
                        "the second half scored", "runs": runs}


def load_weights():
    r = gguf.GGUFReader(MODEL)
    w = {}
    for t in r.tensors:
        a = gguf.dequantize(t.data, t.tensor_type).astype(np.float64)
        w[t.name] = a.reshape([int(x) for x in reversed(t.shape)])
    kv = {}
    for k in ("block_count", "embedding_length", "attention.head_count", "attention.head_count_kv", "attention.key_length",
              "rope.freq_base", "attention.layer_norm_rms_epsilon", "attention.sliding_window"):
        kv[k] = r.fields["gemma3." + k].parts[-1][0]
    return w, kv


def forward(w, kv, tokens, positions):
    L, C = int(kv["block_count"]), int(kv["embedding_length"])
    H, HKV, hs = int(kv["attention.head_count"]), int(kv["attention.head_count_kv"]), int(kv["attention.key_length"])
    theta_global, eps, window = float(kv["rope.freq_base"]), float(kv["attention.layer_norm_rms_epsilon"]), int(kv["attention.sliding_window"])
    T = len(tokens)

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x, theta):  # (T, heads, hs): pairs (i, i + hs/2) rotate by pos * theta^(-2i/hs)
        pos = np.arange(T, dtype=np.float64)[:, None]
        freq = theta ** (-np.arange(0, hs, 2, dtype=np.float64) / hs)
        ang = pos * freq[None, :]
        c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
        x0, x1 = x[..., :hs // 2], x[..., hs // 2:]
        return np.concatenate([x0 * c - x1 * s, x0 * s + x1 * c], axis=-1)

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    x = w["token_embd.weight"][tokens] * math.sqrt(C)
    qpos, kpos = np.arange(T)[:, None], np.arange(T)[None, :]
    causal = np.where(kpos > qpos, -np.inf, 0.0)
    sliding = np.where((kpos > qpos) | (qpos - kpos >= window), -np.inf, 0.0)
    for l in range(L):
        p = f"blk.{l}."
        is_swa = l % 6 < 5
        theta, mask = (10000.0, sliding) if is_swa else (theta_global, causal)
        h = rms(x, w[p + "attn_norm.weight"])
        q = rms((h @ w[p + "attn_q.weight"].T).reshape(T, H, hs), w[p + "attn_q_norm.weight"])
        k = rms((h @ w[p + "attn_k.weight"].T).reshape(T, HKV, hs), w[p + "attn_k_norm.weight"])
        v = (h @ w[p + "attn_v.weight"].T).reshape(T, HKV, hs)
        q, k = rope(q, theta), rope(k, theta)
        att = np.empty((T, H, hs))
        for hh in range(H):
            kh = hh // (H // HKV)
            s = q[:, hh, :] @ k[:, kh, :].T / math.sqrt(hs) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            att[:, hh, :] = (s / s.sum(-1, keepdims=True)) @ v[:, kh, :]
        x = x + rms(att.reshape(T, H * hs) @ w[p + "attn_output.weight"].T, w[p + "post_attention_norm.weight"])
        h = rms(x, w[p + "ffn_norm.weight"])
        g, u = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
        x = x + rms((gelu(g) * u) @ w[p + "ffn_down.weight"].T, w[p + "post_ffw_norm.weight"])
    x = rms(x[positions], w["output_norm.weight"])
    return x @ w["token_embd.weight"].T


def main():
    ref = {"model": "models/gemma3/model.gguf",
           "model_sha256": hashlib.sha256(open(MODEL, "rb").read()).hexdigest(),
           "tools": {"llama-cpp-python": llama_cpp.__version__, "numpy": np.__version__, "gguf": "0.17.1"},
           "tokenizer": {}, "perplexity": {}, "logits": []}
    m = vocab()
    for name, path in TEXTS.items():
        data = open(os.path.join(ROOT, path), "rb").read()
        lc = m.tokenize(data, add_bos=False, special=False)
        ref["tokenizer"][name] = {"text": path, "text_sha256": hashlib.sha256(data).hexdigest(), "llama.cpp": ids_digest(lc)}
        print(name, len(lc), flush=True)
        if name == "wikitext2-test":
            ref["perplexity"][name] = llamacpp_perplexity(lc, PPL_CTX, PPL_CHECKPOINTS)
            print("llama.cpp perplexity", [(r["chunks"], r["ppl"]) for r in ref["perplexity"][name]["runs"]], flush=True)
    w, kv = load_weights()
    bos = m.token_bos()
    story = open(os.path.join(ROOT, TEXTS["tinystories-valid1000"]), "rb").read()[:6000]
    cases = [("The capital of France is Paris. The capital of Germany is", None),
             ("Once upon a time, there was a little girl named Lily. She loved to", None),
             (story.decode("utf-8", "ignore"), 1100)]  # longer than the 512-position window
    for text, limit in cases:
        tokens = [bos] + m.tokenize(text.encode(), add_bos=False, special=False)
        if limit:
            tokens = tokens[:limit]
        positions = [0, len(tokens) // 2, len(tokens) - 1] if not limit else [100, 511, 600, 900, len(tokens) - 1]
        logits = forward(w, kv, tokens, positions)
        rows = {}
        for i, p in enumerate(positions):
            row = logits[i]
            idx = sorted(set(range(0, row.shape[0], 997)) | set(int(j) for j in np.argsort(-row)[:32]))
            rows[str(p)] = {"index": idx, "value": [float(f"{row[j]:.6f}") for j in idx]}
        entry = {"tokens": tokens, "positions": positions, "rows": rows,
                 "argmax": {str(p): int(np.argmax(logits[i])) for i, p in enumerate(positions)}}
        if limit:
            entry["text_from"] = TEXTS["tinystories-valid1000"] + f" (its first {limit} tokens with the BOS)"
        else:
            entry["text"] = text
        ref["logits"].append(entry)
        print(len(tokens), positions, [int(np.argmax(r)) for r in logits], flush=True)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(f"{OUT}: {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
