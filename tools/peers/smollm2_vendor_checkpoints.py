"""Whole-model vendor checkpoints of SmolLM2-135M-Instruct (issue 34), made by the tools' own code,
for qharness to read, count and evaluate: not committed (each is about 100 MB); made into
build/peers/ (git-ignored) by this script.

- smollm2-f32: the F32 dequantization of models/smollm2/model.gguf as transformers 4.53.3 loads it
  (gguf_file=...), saved with save_pretrained (config.json, model.safetensors, tokenizer.json);
  every checkpoint below is a quantization of it.
- smollm2-gptq-b4g128: AutoGPTQ 0.7.1's GPTQ (fasterquant, 4 bits, groups of 128, symmetric, no
  act-order: AutoGPTQ's defaults; damp 0.01) of every block matrix, with the Hessian of each layer
  from the unquantized model's activations on 16 windows of 512 tokens of datasets/gutenberg/
  calib.txt (qharness's calibration text) -- one forward pass for all layers, not AutoGPTQ's
  sequential pass through a model quantized layer by layer, which needs CUDA here; packed by
  its QuantLinear.pack (checkpoint_format gptq).
- smollm2-awq-b4g64: AutoAWQ 0.2.9's pseudo_quantize_tensor (round to nearest with a zero point,
  groups of 64: AutoAWQ needs the inputs a whole number of groups, and SmolLM2's 576 is not of 128) packed by WQLinear_GEMM.from_linear; AWQ's activation-aware scale search is not
  run (it needs AutoAWQ's calibration through the model), so these are AutoAWQ's files of plain
  round-to-nearest weights.
- smollm2-ct-w4a16: compressed-tensors 0.20.1, int4 symmetric groups of 64 (llm-compressor's
  W4A16 preset has 128, which does not divide SmolLM2's 576 inputs), scales by its calculate_qparams from each group's min/max (the RTN of
  QuantizationModifier, no GPTQ), packed by PackedQuantizationCompressor.
- smollm2-bnb-nf4-dq: bitsandbytes 0.46.1 quantize_4bit NF4, blocks of 64, compress_statistics
  (QLoRA's double quantization), the tensors Params4bit saves.

    cd /tmp && /path/to/repo/.peers/bnb/bin/python /path/to/repo/tools/peers/smollm2_vendor_checkpoints.py
(the environment of hf_quant_reference.py.)
"""
import importlib.util
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
spec = importlib.util.spec_from_file_location("hfq", os.path.join(HERE, "hf_quant_reference.py"))
hfq = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hfq)
import transformers  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

OUT = os.path.join(ROOT, "build/peers")
GGUF_DIR = os.path.join(ROOT, "models/smollm2")


def calibration_batches(tok, n=16, ctx=512):
    text = open(os.path.join(ROOT, "datasets/gutenberg/calib.txt"), encoding="utf-8").read()
    ids = tok(text, return_tensors="pt").input_ids[0]
    return [ids[i * ctx:(i + 1) * ctx].unsqueeze(0) for i in range(n)]


def gptq_all(model, batches, bits=4, group=128, sym=True):
    from auto_gptq.nn_modules.qlinear.qlinear_cuda import QuantLinear
    from auto_gptq.quantization import GPTQ
    layers = list(hfq.linears(model))
    gptqs = {name: GPTQ(lin) for name, lin in layers}
    for g in gptqs.values():
        g.quantizer.configure(bits, perchannel=True, sym=sym, mse=False)
    hooks = [lin.register_forward_hook(lambda mod, inp, out, g=gptqs[name]: g.add_batch(inp[0].data, out.data)) for name, lin in layers]
    with torch.no_grad():
        for b in batches:
            model(b)
    for h in hooks:
        h.remove()
    tensors = {}
    for name, lin in layers:
        g = gptqs[name]
        w0 = lin.weight.data.clone()
        scale, zero, g_idx = g.fasterquant(blocksize=128, percdamp=0.01, group_size=group, actorder=False, static_groups=False)
        ql = QuantLinear(bits, group, lin.in_features, lin.out_features, bias=False)
        ql.pack(lin.half(), scale.half(), zero.half(), g_idx)
        lin.float()
        with torch.no_grad():
            lin.weight.copy_(w0)  # the next layers' inputs were taken from the unquantized model
        for p in ("qweight", "qzeros", "scales", "g_idx"):
            tensors[f"{name}.{p}"] = getattr(ql, p).contiguous()
        g.free()
    qc = {"bits": bits, "group_size": group, "damp_percent": 0.01, "desc_act": False, "static_groups": False, "sym": sym,
          "true_sequential": True, "model_name_or_path": None, "model_file_base_name": "model", "quant_method": "gptq",
          "checkpoint_format": "gptq"}
    return tensors, qc


def save(model, name, tensors, qc, tok):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    names = {n for n, _ in hfq.linears(model)}
    sd = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight" and k.rsplit(".", 1)[0] not in names}
    sd.update(tensors)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    c = model.config.to_dict()
    c["quantization_config"] = qc
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
    tok.save_pretrained(d)
    print(name, os.path.getsize(os.path.join(d, "model.safetensors")), "bytes", flush=True)


def main():
    which = sys.argv[1:] or ["f32", "gptq", "awq", "ct", "bnb"]
    tok = transformers.AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file="model.gguf")
    model = transformers.AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file="model.gguf", torch_dtype=torch.float32).eval()
    if "f32" in which:
        d = os.path.join(OUT, "smollm2-f32")
        model.save_pretrained(d, safe_serialization=True)
        tok.save_pretrained(d)
        print("smollm2-f32 written", flush=True)
    t = time.time()
    if "gptq" in which:
        tensors, qc = gptq_all(model, calibration_batches(tok))
        save(model, "smollm2-gptq-b4g128", tensors, qc, tok)
    if "awq" in which:
        tensors, _, qc = hfq.awq_variant(model, "gemm", group=64)
        save(model, "smollm2-awq-b4g64", tensors, qc, tok)
    if "ct" in which:
        tensors, _, qc = hfq.ct_variant(model, "pack-quantized", 4, "group", 64, True)
        save(model, "smollm2-ct-w4a16", tensors, qc, tok)
    if "bnb" in which:
        tensors, _, qc = hfq.bnb_variant(model, "nf4", True)
        save(model, "smollm2-bnb-nf4-dq", tensors, qc, tok)
    print(f"{time.time() - t:.0f} s", flush=True)


if __name__ == "__main__":
    main()
