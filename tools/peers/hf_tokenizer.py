"""Reference token ids from Hugging Face's `tokenizers` (Rust), for qharness's tests.

The tokenizer is built from the GGUF file's own vocabulary and merges (tokenizer.ggml.tokens,
tokenizer.ggml.merges, read with the `gguf` package), with the pre-tokenizer the model's
tokenizer.json names: for SmolLM2, Sequence[Digits(individual_digits=True),
ByteLevel(add_prefix_space=False, use_regex=True)] -- what llama.cpp calls `smollm`.  No BOS
(tokenizer.ggml.add_bos_token is false).  An independent implementation of byte-level BPE and
of the pre-tokenizer: it shares nothing with qharness's C encoder but the vocabulary.

usage: hf_tokenizer.py MODEL.gguf TEXT_FILE OUT_IDS   (one id per line)
"""
import sys

import gguf
from tokenizers import Tokenizer, decoders, models, pre_tokenizers


def field_strings(reader, key):
    f = reader.fields[key]
    return [bytes(f.parts[i]).decode("utf-8") for i in f.data]


def main():
    gguf_path, text_path, out_path = sys.argv[1:4]
    reader = gguf.GGUFReader(gguf_path)
    pre = bytes(reader.fields["tokenizer.ggml.pre"].parts[-1]).decode()
    tokens = field_strings(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in field_strings(reader, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    steps = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    if pre == "smollm":
        steps.insert(0, pre_tokenizers.Digits(individual_digits=True))
    elif pre != "gpt-2":
        sys.exit(f"{gguf_path}: pre-tokenizer {pre!r} is not one this script builds")
    tok.pre_tokenizer = pre_tokenizers.Sequence(steps)
    tok.decoder = decoders.ByteLevel()
    text = open(text_path, encoding="utf-8", newline="").read()
    ids = tok.encode(text, add_special_tokens=False).ids
    with open(out_path, "w") as f:
        f.write("".join(f"{i}\n" for i in ids))
    print(f"{out_path}: {len(ids)} ids ({pre}, tokenizers {__import__('tokenizers').__version__})")


if __name__ == "__main__":
    main()
