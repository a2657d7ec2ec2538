"""Reference data for qharness's `nf4 double_quant=1` from bitsandbytes itself, committed as
tests/data/bnb/nf4_double_quant.{json,bin}:

- the weight: the default model's h.0.mlp.c_proj.weight (F16 in models/gpt2-gutenberg-18m, GPT-2's
  Conv1D layout (in, out) = (1024, 256)), transposed to the (out, in) = (256, 1024) layout
  of a linear layer and widened to F32, as qharness quantizes it;
- bitsandbytes's quantize_4bit(W, blocksize=64, quant_type="nf4", compress_statistics=True) on
  the CPU: its packed 4-bit codes (two weights a byte, row-major, the first in the high nibble), its 8-bit codes of the block absmax (one byte per block of 64), and in the JSON the
  F32 absmax of each block of 256 of those and the offset (the mean of the block absmax), as
  hexadecimal floats;
- bitsandbytes's dequantize_4bit of that state: the sha256 of its F32 bytes (little-endian,
  row-major) and its first values;
- with --c-table: the 256-entry dynamic map the blockwise quantizer used (printed as the C
  table in methods/nf4.c).

Run (the peers live in a git-ignored virtual environment; PyPI's torch brings CUDA wheels, about
3 GB, though bitsandbytes's CPU kernels are what run here):
    python3 -m venv .peers/bnb
    .peers/bnb/bin/pip install "numpy<2.3" torch==2.5.1 bitsandbytes==0.46.1
    .peers/bnb/bin/python tools/peers/bnb_reference.py
"""
import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch
import bitsandbytes
import bitsandbytes.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "gpt2-gutenberg-18m", "model.safetensors")
TENSOR = "h.0.mlp.c_proj.weight"
OUT = os.path.join(ROOT, "tests", "data", "bnb")


def load_tensor(path, name):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        info = header[name]
        assert info["dtype"] == "F16", info
        start, end = info["data_offsets"]
        f.seek(8 + n + start)
        data = np.frombuffer(f.read(end - start), dtype="<f2").reshape(info["shape"])
    return data


def main():
    w16 = load_tensor(MODEL, TENSOR)                      # (in, out)
    w = np.ascontiguousarray(w16.T.astype(np.float32))    # (out, in): rows of a linear layer
    W = torch.from_numpy(w)
    packed, state = F.quantize_4bit(W, blocksize=64, compress_statistics=True, quant_type="nf4")
    packed = packed.flatten().numpy()
    scale_codes = state.absmax.numpy().astype(np.uint8)
    absmax2 = state.state2.absmax.numpy().astype(np.float32)
    offset = np.float32(state.offset.item())
    deq = F.dequantize_4bit(torch.from_numpy(packed.reshape(-1, 1)), state).numpy().astype("<f4")
    if "--c-table" in sys.argv:
        for i in range(0, 256, 4):
            print("    " + ", ".join(float.hex(float(v)) + "f" for v in state.state2.code[i:i + 4].tolist()) + ",")
        return
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "nf4_double_quant.bin"), "wb") as f:
        f.write(packed.tobytes())
        f.write(scale_codes.tobytes())
    ref = {
        "about": "bitsandbytes's NF4 with double quantization of one weight matrix of the default model; made by tools/peers/bnb_reference.py",
        "tools": {"bitsandbytes": bitsandbytes.__version__, "torch": torch.__version__, "numpy": np.__version__},
        "model": "models/gpt2-gutenberg-18m/model.safetensors",
        "tensor": TENSOR,
        "rows": int(w.shape[0]), "cols": int(w.shape[1]),
        "blocksize": 64, "nested_blocksize": int(state.state2.blocksize),
        "bin": "nf4_double_quant.bin: bitsandbytes's packed 4-bit codes (rows*cols/2 bytes, row-major, the first weight of a byte in its high nibble), then one 8-bit absmax code per block of 64",
        "offset": float.hex(float(offset)),
        "nested_absmax": [float.hex(float(v)) for v in absmax2],
        "dequantized_sha256": hashlib.sha256(deq.tobytes()).hexdigest(),
        "dequantized_first": [float.hex(float(v)) for v in deq.flatten()[:8]],
    }
    with open(os.path.join(OUT, "nf4_double_quant.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
