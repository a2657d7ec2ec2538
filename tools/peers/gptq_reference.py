"""Reference data for qharness's dequantization of GPTQ checkpoints (issue 34): AutoGPTQ's own
packing and its own dequantization, on a slice of a real model's weights.

The weights are the first 64 rows of SmolLM2-135M-Instruct's blk.0.attn_q.weight (576 inputs),
dequantized by the `gguf` package from models/smollm2/model.gguf (fetched by `make deps`).  Each
variant is quantized by AutoGPTQ 0.7.1's own GPTQ (auto_gptq.quantization.GPTQ.fasterquant,
on the CPU: its one call of torch.cuda.synchronize is made a no-op) with a seeded random
calibration input, packed by AutoGPTQ's own QuantLinear.pack (qlinear_cuda: qweight, qzeros
stored as zero - 1, the "gptq" v1 checkpoint format, scales in F16, g_idx), and dequantized by
that QuantLinear's own forward on the identity matrix in float16 (its CPU path without the CUDA
extension: scales[g_idx] * (q - (z + 1)) in half precision), which gives W^T exactly.

Variants: 4 bits in groups of 64 (asymmetric), 32 (symmetric), 64 with act-order (desc_act:
g_idx permuted), and a single group per column (group_size -1); 2 bits and 3 bits (groups of
64; 3-bit values straddle the int32 words), 8 bits (symmetric).  Written to
tests/data/gptq/autogptq.safetensors (V.qweight, V.qzeros, V.scales, V.g_idx, V.dequant) and
tests/data/gptq/autogptq.json (the variants' settings and the tools' versions).

    .peers/bnb/bin/pip install --no-deps auto_gptq==0.7.1
    .peers/bnb/bin/pip install accelerate sentencepiece "datasets<3" peft==0.10.0 "huggingface-hub<1.0" torch==2.5.1
    cd /tmp && /path/to/repo/.peers/bnb/bin/python /path/to/repo/tools/peers/gptq_reference.py
(run outside the repository root: its datasets/ folder shadows the `datasets` package.)
"""
import json
import os

import gguf
import numpy as np
import torch

torch.cuda.synchronize = lambda *a, **k: None  # fasterquant's only CUDA call
import auto_gptq  # noqa: E402
from auto_gptq.nn_modules.qlinear.qlinear_cuda import QuantLinear  # noqa: E402
from auto_gptq.quantization import GPTQ  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL = os.path.join(ROOT, "models/smollm2/model.gguf")
OUT = os.path.join(ROOT, "tests/data/gptq/autogptq")
VARIANTS = [
    ("b4g64", 4, 64, False, False),
    ("b4g32sym", 4, 32, True, False),
    ("b4g64act", 4, 64, False, True),
    ("b4col", 4, -1, False, False),
    ("b2g64", 2, 64, False, False),
    ("b3g64", 3, 64, False, False),
    ("b8g64sym", 8, 64, True, False),
]


def weights():
    r = gguf.GGUFReader(MODEL)
    t = next(t for t in r.tensors if t.name == "blk.0.attn_q.weight")
    w = gguf.dequantize(t.data, t.tensor_type).reshape([int(x) for x in reversed(t.shape)])
    return torch.tensor(np.ascontiguousarray(w[:64]), dtype=torch.float32)  # (out 64, in 576)


def main():
    w0 = weights()
    out_f, in_f = w0.shape
    tensors, meta = {}, {"source": "models/smollm2/model.gguf blk.0.attn_q.weight, rows 0-63 (out 64, in 576)",
                         "tools": {"auto_gptq": auto_gptq.__version__, "torch": torch.__version__, "gguf": "0.17.1"},
                         "format": "AutoGPTQ qlinear_cuda (checkpoint_format gptq: qzeros hold zero - 1)", "variants": []}
    for name, bits, group, sym, act in VARIANTS:
        torch.manual_seed(1)
        lin = torch.nn.Linear(in_f, out_f, bias=False)
        with torch.no_grad():
            lin.weight.copy_(w0)
        g = GPTQ(lin)
        g.quantizer.configure(bits, perchannel=True, sym=sym, mse=False)
        x = torch.randn(16, 64, in_f, generator=torch.Generator().manual_seed(2))
        for i in range(x.shape[0]):
            g.add_batch(x[i], None)
        scale, zero, g_idx = g.fasterquant(blocksize=128, percdamp=0.01, group_size=group, actorder=act, static_groups=False)
        lin = lin.half()
        ql = QuantLinear(bits, group, in_f, out_f, bias=False)
        ql.pack(lin, scale.half(), zero.half(), g_idx)
        with torch.no_grad():
            deq = ql(torch.eye(in_f, dtype=torch.float16))  # (in, out) = W^T
        for part in ("qweight", "qzeros", "scales", "g_idx"):
            tensors[f"{name}.{part}"] = getattr(ql, part).contiguous()
        tensors[f"{name}.dequant"] = deq.contiguous()
        err = (deq.float() - w0.T).abs().max().item()
        meta["variants"].append({"name": name, "bits": bits, "group_size": group, "sym": sym, "desc_act": act,
                                 "max_abs_error_vs_weights": err})
        print(name, tuple(ql.qweight.shape), tuple(ql.qzeros.shape), tuple(ql.scales.shape), f"max |W - deq| {err:.4g}")
    save_file(tensors, OUT + ".safetensors")
    with open(OUT + ".json", "w") as f:
        json.dump(meta, f, indent=1)
    print(OUT + ".safetensors", os.path.getsize(OUT + ".safetensors"), "bytes")


if __name__ == "__main__":
    main()
