"""Reference data for qharness's ggml MXFP4 and NVFP4 types from llama.cpp's own Python package
(gguf-py, `gguf` on PyPI), committed as tests/data/ggml_fp4/fp4.gguf and fp4.json:

- `ffn_down.mxfp4`: the first 64 rows of the default model's h.0.mlp.c_proj.weight in a linear
  layer's (out, in) layout (GGUF's ne = (1024, 64)), quantized to MXFP4 by gguf-py's
  MXFP4.quantize (its port of ggml's quantize_row_mxfp4_ref);
- `ties.mxfp4`: 64 hand-made values whose w / scale fall on E2M1 ties (0.75, 1.75, 3.5 of the
  scale: ggml keeps the smaller magnitude where OCP's rounding takes the even code) and an
  all-zero block, quantized the same way, with their dequantization as `ties.expected` (F32);
- `random.mxfp4`, `random.nvfp4`: blocks of seeded random bytes (every scale byte, subnormal
  scales included), with gguf-py's dequantization as `random.mxfp4.expected` and
  `random.nvfp4.expected` (gguf-py has no NVFP4 quantizer);
- fp4.json: the sha256 of gguf-py's dequantization of ffn_down.mxfp4 (F32, little-endian) and the
  sha256 of the F32 input rows, so that a test can quantize the same rows and compare bytes.

Run (gguf-py in a git-ignored virtual environment):
    python3 -m venv .peers/gguf
    .peers/gguf/bin/pip install "numpy<2.3" gguf==0.19.0
    .peers/gguf/bin/python tools/peers/ggml_fp4_reference.py
"""
import hashlib
import importlib.metadata
import json
import os
import struct

import numpy as np
import gguf
from gguf.quants import quantize, dequantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models", "gpt2-gutenberg-18m", "model.safetensors")
OUT = os.path.join(ROOT, "tests", "data", "ggml_fp4")
T = gguf.GGMLQuantizationType


def load_tensor(path, name):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        info = header[name]
        start, end = info["data_offsets"]
        f.seek(8 + n + start)
        return np.frombuffer(f.read(end - start), dtype="<f2").reshape(info["shape"])


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = np.ascontiguousarray(load_tensor(MODEL, "h.0.mlp.c_proj.weight").T.astype(np.float32))[:64]
    ties = np.zeros(64, dtype=np.float32)
    ties[:12] = [6.0, 0.75, 1.75, 3.5, 2.5, 5.0, -0.75, -1.75, -3.5, 0.25, 1.25, -5.0]  # absmax 6: the scale is 1
    rng = np.random.default_rng(20261207)
    mx_random = rng.integers(0, 256, size=(64, 17), dtype=np.uint8)
    mx_random[:, 0] = np.arange(64, dtype=np.uint8) * 3 + 1            # scale bytes across E8M0's range, 1 among them
    mx_random[0, 0], mx_random[1, 0] = 0, 240                           # (from 252 up, 12 x 2^(e - 128) overflows F32)
    nv_random = rng.integers(0, 128, size=(32, 36), dtype=np.uint8)     # UE4M3 scales are 7-bit
    nv_random[0, :4] = [0, 1, 0x7E, 0x7F]

    w = gguf.GGUFWriter(os.path.join(OUT, "fp4.gguf"), "qharness-test")
    w.add_name("ggml FP4 types from gguf-py")
    q_rows = quantize(rows, T.MXFP4)
    w.add_tensor("ffn_down.mxfp4", q_rows, raw_dtype=T.MXFP4)
    q_ties = quantize(ties.reshape(1, 64), T.MXFP4)
    w.add_tensor("ties.mxfp4", q_ties, raw_dtype=T.MXFP4)
    w.add_tensor("ties.expected", dequantize(q_ties, T.MXFP4).astype(np.float32))
    w.add_tensor("random.mxfp4", mx_random.reshape(1, -1), raw_dtype=T.MXFP4)
    w.add_tensor("random.mxfp4.expected", dequantize(mx_random.reshape(1, -1), T.MXFP4).astype(np.float32))
    w.add_tensor("random.nvfp4", nv_random.reshape(1, -1), raw_dtype=T.NVFP4)
    w.add_tensor("random.nvfp4.expected", dequantize(nv_random.reshape(1, -1), T.NVFP4).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    ref = {
        "about": "ggml's MXFP4 and NVFP4 by llama.cpp's gguf-py; made by tools/peers/ggml_fp4_reference.py",
        "tools": {"gguf": importlib.metadata.version("gguf"), "numpy": np.__version__},
        "source": "models/gpt2-gutenberg-18m/model.safetensors h.0.mlp.c_proj.weight, transposed to (out, in) = (256, 1024), rows 0-63, F32",
        "source_sha256": hashlib.sha256(rows.astype("<f4").tobytes()).hexdigest(),
        "ffn_down_mxfp4_sha256": hashlib.sha256(q_rows.tobytes()).hexdigest(),
        "ffn_down_dequantized_sha256": hashlib.sha256(dequantize(q_rows, T.MXFP4).astype("<f4").tobytes()).hexdigest(),
    }
    with open(os.path.join(OUT, "fp4.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
