"""Reference data for the Gemma 3 GGUF writer (qharness convert): does llama.cpp load the file
qharness writes and read from it what it reads from the distributed one?

Run once with the written file, made by
    ./qharness convert gemma3 -o /tmp/gemma3-q8_0.gguf --type Q8_0
and llama.cpp (llama-cpp-python 0.3.16, the environment of gemma3_reference.py):
    .peers/llama316/bin/python tools/peers/gemma3_written_reference.py /tmp/gemma3-q8_0.gguf
It writes tests/data/gemma3/written.json: the file's size and sha256 (to say which bytes were
measured), llama.cpp's token ids of WikiText-2 test through the written file's vocabulary
(count, sha256, first ids: the test holds them equal to those through the distributed file's),
and llama.cpp's perplexity of the written file under llama-perplexity's protocol (ctx 1024,
2 and 8 chunks of WikiText-2 test, the second half of each chunk scored), which qharness's
`--protocol llama-cpp` perplexity of the same file must come within 0.3% of.
"""
import hashlib
import json
import os
import sys

import llama_cpp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gemma3_reference as ref  # noqa: E402  (its perplexity loop and digest, on another file)

OUT = os.path.join(ref.ROOT, "tests/data/gemma3/written.json")


def main():
    path = sys.argv[1]
    data = open(path, "rb").read()
    out = {"written": {"command": "qharness convert gemma3 -o FILE --type Q8_0", "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()},
           "tools": {"llama-cpp-python": llama_cpp.__version__}}
    del data
    text_path = ref.TEXTS["wikitext2-test"]
    text = open(os.path.join(ref.ROOT, text_path), "rb").read()
    vocab = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    ids = vocab.tokenize(text, add_bos=False, special=False)
    out["tokenizer"] = {"text": text_path, "llama.cpp": ref.ids_digest(ids)}
    print("tokens", len(ids), flush=True)
    ref.MODEL = path  # the perplexity loop loads ref.MODEL
    out["perplexity"] = ref.llamacpp_perplexity(ids, ref.PPL_CTX, ref.PPL_CHECKPOINTS)
    print("llama.cpp perplexity", [(r["chunks"], r["ppl"]) for r in out["perplexity"]["runs"]], flush=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{OUT}: {os.path.getsize(OUT)} bytes")


if __name__ == "__main__":
    main()
