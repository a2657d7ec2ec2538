"""Quantized Hugging Face checkpoints written by the vendors' own tools, for qharness's readers of
GPTQ, AWQ, compressed-tensors and bitsandbytes directories (issue 34; tests/check_hf_quant.c).

One tiny Llama (LlamaForCausalLM of transformers 4.53.3, random weights, seed 0: 2 layers, width
64, 4 query heads and 2 key/value heads of 16, MLP 128, vocabulary 96, head tied) is written once
in float32 and then once per variant below, its seven linear layers of each block stored as the
tool stores them, everything else (embedding, norms) as float32.  Each variant's directory is
tests/data/hf_quant/VARIANT/ (config.json with the tool's quantization_config, model.safetensors;
tests/data/hf_quant/f32/ is the unquantized model).  Two variants (gpt2-*) are of a tiny GPT-2
(GPT2LMHeadModel: 2 layers, width 64, 4 heads, vocabulary 96, 64 positions), whose Conv1D layers
the tools store as the linear layers they are: AutoGPTQ's GPTQ and pack take the Conv1D itself,
and transformers' bitsandbytes integration quantizes its transposed, (out, in), weight
and tests/data/hf_quant/reference.json holds, per variant, the sha256 of the tool's own
dequantization of each quantized layer (float32, PyTorch's (out, in) row-major, little-endian), a
few of its values, and the logits of transformers' float32 forward of the model whose linear
layers are those dequantized weights, on 16 ids.

Which code of each tool runs (no GPU here; each quantizer's integer codes are made by the tool's
own CPU code where it has one):
- gptq-*: AutoGPTQ 0.7.1: auto_gptq.quantization.GPTQ.fasterquant (its one torch.cuda.synchronize
  made a no-op) on seeded random calibration inputs, one layer at a time (not AutoGPTQ's
  sequential pass over a model: the codes are real GPTQ codes, the calibration is not text),
  packed by its QuantLinear.pack (qlinear_cuda, checkpoint_format "gptq": zeros stored minus one);
  dequantized by that QuantLinear's forward on the identity in float16 (its CPU path).
  gptq-b4g32-v2: the same, symmetric, its zeros then converted to GPTQModel's v2 format
  (checkpoint_format gptq_v2) by GPTQModel 7.7.0's own convert_gptq_v1_to_v2_format_module,
  run from its source (GPTQMODEL_SRC); the reference is AutoGPTQ's dequantization of the v1 layer.
- awq-gemm, awq-gemv: AutoAWQ 0.2.9: AwqQuantizer.pseudo_quantize_tensor (its round-to-nearest
  with zero point; AWQ's activation-aware scale search needs calibration through the model and
  is not run: the file format is what is tested), packed by WQLinear_GEMM.from_linear and
  WQLinear_GEMV.from_linear; dequantized by awq.utils.packing_utils.dequantize_gemm.  AutoAWQ has
  no CPU dequantizer for GEMV (its kernel is CUDA): the GEMV file holds the same integers and
  scales as the GEMM file, so its reference is the GEMM file's dequantization.
- ct-*: compressed-tensors 0.20.1: scales and zero points by its own observer-free min/max rule
  computed here (calculate_qparams), codes and packing by PackedQuantizationCompressor /
  NaiveQuantizationCompressor.compress, dequantized by their decompress; quantization_config from
  its QuantizationConfig model.
- bnb-*: bitsandbytes 0.46.1: functional.quantize_4bit (CPU) and QuantState.as_dict(packed=True),
  the tensors Params4bit saves; dequantized by functional.dequantize_4bit.  Only NF4: bitsandbytes's
  CPU backend refuses FP4 ("quant_type must be nf4 on CPU"), so no FP4 file can be made here and
  qharness refuses FP4 files by name rather than read them untested.

    .peers/bnb/bin/pip install --no-deps autoawq==0.2.9 compressed-tensors==0.20.1
    .peers/bnb/bin/pip install loguru pydantic frozendict
    cd /tmp && /path/to/repo/.peers/bnb/bin/python /path/to/repo/tools/peers/hf_quant_reference.py
(the environment of gptq_reference.py and bnb_reference.py; run outside the repository root.)
"""
import hashlib
import json
import os
import shutil

import numpy as np
import torch

torch.cuda.synchronize = lambda *a, **k: None  # fasterquant's only CUDA call
import auto_gptq  # noqa: E402
import awq  # noqa: E402
import bitsandbytes  # noqa: E402
import bitsandbytes.functional as bnbf  # noqa: E402
import compressed_tensors  # noqa: E402
import transformers  # noqa: E402
from auto_gptq.nn_modules.qlinear.qlinear_cuda import QuantLinear  # noqa: E402
from auto_gptq.quantization import GPTQ  # noqa: E402
from awq.modules.linear.gemm import WQLinear_GEMM  # noqa: E402
from awq.modules.linear.gemv import WQLinear_GEMV  # noqa: E402
from awq.quantize.quantizer import AwqQuantizer  # noqa: E402
from awq.utils.packing_utils import dequantize_gemm  # noqa: E402
from compressed_tensors.compressors import BaseCompressor  # noqa: E402
from compressed_tensors.quantization import QuantizationArgs, QuantizationConfig, QuantizationScheme  # noqa: E402
from compressed_tensors.quantization.utils import calculate_qparams  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests/data/hf_quant")
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
           "mlp.down_proj"]


def tiny_model():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0,
                      tie_word_embeddings=True, initializer_range=0.1, attn_implementation="eager")
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn_like(p))
    return model


def linears(model):
    for li, layer in enumerate(model.model.layers):
        for path in LINEARS:
            mod = layer
            for part in path.split("."):
                mod = getattr(mod, part)
            yield f"model.layers.{li}.{path}", mod


def tiny_gpt2():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=96, n_positions=64, n_embd=64, n_layer=2, n_head=4, resid_pdrop=0.0, embd_pdrop=0.0,
                                  attn_pdrop=0.0, initializer_range=0.1, tie_word_embeddings=True)
    return transformers.GPT2LMHeadModel(cfg).float().eval()


def gpt2_linears(model):
    for li, block in enumerate(model.transformer.h):
        for path in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"):
            mod = block
            for part in path.split("."):
                mod = getattr(mod, part)
            yield f"h.{li}.{path}", mod  # GPT-2's files name tensors without "transformer."


def sha(t):
    return hashlib.sha256(t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()).hexdigest()


# --- GPTQ (AutoGPTQ) -------------------------------------------------------------------------
def gptq_layer(lin, bits, group, sym, act, seed):
    g = GPTQ(torch.nn.Linear(lin.in_features, lin.out_features, bias=False))
    with torch.no_grad():
        g.layer.weight.copy_(lin.weight)
    g.quantizer.configure(bits, perchannel=True, sym=sym, mse=False)
    x = torch.randn(8, 32, lin.in_features, generator=torch.Generator().manual_seed(seed))
    for i in range(x.shape[0]):
        g.add_batch(x[i], None)
    scale, zero, g_idx = g.fasterquant(blocksize=128, percdamp=0.01, group_size=group, actorder=act, static_groups=False)
    ql = QuantLinear(bits, group, lin.in_features, lin.out_features, bias=False)
    ql.pack(g.layer.half(), scale.half(), zero.half(), g_idx)
    with torch.no_grad():
        deq = ql(torch.eye(lin.in_features, dtype=torch.float16)).T.float()  # (out, in)
    return {p: getattr(ql, p).contiguous() for p in ("qweight", "qzeros", "scales", "g_idx")}, deq


def gptq_variant(model, bits, group, sym, act):
    tensors, deqs = {}, {}
    for k, (name, lin) in enumerate(linears(model)):
        parts, deq = gptq_layer(lin, bits, group, sym, act, 100 + k)
        for p, t in parts.items():
            tensors[f"{name}.{p}"] = t
        deqs[name] = deq
    qc = {"bits": bits, "group_size": group, "damp_percent": 0.01, "desc_act": act, "static_groups": False, "sym": sym,
          "true_sequential": True, "model_name_or_path": None, "model_file_base_name": "model", "quant_method": "gptq",
          "checkpoint_format": "gptq"}
    return tensors, deqs, qc


def gptq_conv1d_variant(model, bits=4, group=32, sym=False):
    """AutoGPTQ on GPT-2's Conv1D layers: GPTQ and QuantLinear.pack take the Conv1D itself (both
    transpose its (in, out) weight); the dequantization is given in PyTorch's (out, in) order."""
    tensors, deqs = {}, {}
    for k, (name, conv) in enumerate(gpt2_linears(model)):
        in_f, out_f = conv.weight.shape
        layer = transformers.pytorch_utils.Conv1D(out_f, in_f)
        with torch.no_grad():
            layer.weight.copy_(conv.weight)
            layer.bias.zero_()
        g = GPTQ(layer)
        g.quantizer.configure(bits, perchannel=True, sym=sym, mse=False)
        x = torch.randn(8, 32, in_f, generator=torch.Generator().manual_seed(200 + k))
        for i in range(x.shape[0]):
            g.add_batch(x[i], None)
        scale, zero, g_idx = g.fasterquant(blocksize=128, percdamp=0.01, group_size=group, actorder=False, static_groups=False)
        ql = QuantLinear(bits, group, in_f, out_f, bias=False)
        ql.pack(g.layer.half(), scale.half(), zero.half(), g_idx)
        with torch.no_grad():
            deqs[name] = ql(torch.eye(in_f, dtype=torch.float16)).T.float()  # (out, in)
        for p in ("qweight", "qzeros", "scales", "g_idx"):
            tensors[f"{name}.{p}"] = getattr(ql, p).contiguous()
    qc = {"bits": bits, "group_size": group, "damp_percent": 0.01, "desc_act": False, "static_groups": False, "sym": sym,
          "true_sequential": True, "model_name_or_path": None, "model_file_base_name": "model", "quant_method": "gptq",
          "checkpoint_format": "gptq"}
    return tensors, deqs, qc


def bnb_conv1d_variant(model):
    """bitsandbytes on GPT-2: transformers' integration makes each Conv1D a Linear4bit of the
    transposed, (out, in), weight, which quantize_4bit quantizes."""
    tensors, deqs = {}, {}
    for name, conv in gpt2_linears(model):
        packed, state = bnbf.quantize_4bit(conv.weight.data.t().contiguous(), blocksize=64, quant_type="nf4", compress_statistics=True)
        tensors[f"{name}.weight"] = packed.contiguous()
        for k, v in state.as_dict(packed=True).items():
            tensors[f"{name}.weight.{k}"] = v.contiguous()
        deqs[name] = bnbf.dequantize_4bit(packed, state).float()
    return tensors, deqs, bnb_variant(None, "nf4", True, config_only=True)


def gptqmodel_v1_to_v2():
    """GPTQModel's own conversion of AutoGPTQ's v1 zeros (stored minus one) to its v2 format
    (stored as they are): convert_gptq_v1_to_v2_format_module of GPTQModel 7.7.0, executed from
    its source (GPTQMODEL_SRC: the unpacked sdist, `pip download --no-deps gptqmodel==7.7.0`;
    importing the package itself needs its compiled CUDA extensions)."""
    import ast
    import types
    path = os.path.join(os.environ.get("GPTQMODEL_SRC", "/tmp/pipdl2/gptqmodel-7.7.0"), "gptqmodel/utils/model.py")
    tree = ast.parse(open(path).read())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "convert_gptq_v1_to_v2_format_module")
    ns = {"torch": torch, "nn": torch.nn, "BaseQuantLinear": object,
          "log": types.SimpleNamespace(info=types.SimpleNamespace(once=lambda *a, **k: None))}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), path, "exec"), ns)
    return ns["convert_gptq_v1_to_v2_format_module"]


def gptq_v2_variant(model, bits=4, group=32):
    """Symmetric GPTQ (its zero, 2^(bits-1), never wraps when stored minus one), packed by AutoGPTQ
    (v1) and converted by GPTQModel's own code to v2; the reference is AutoGPTQ's dequantization of
    the v1 layer it came from."""
    convert = gptqmodel_v1_to_v2()
    tensors, deqs, _ = gptq_variant(model, bits, group, True, False)
    for name, _ in linears(model):
        layer = types_layer(tensors[f"{name}.qzeros"].clone())
        convert(layer, bits, torch.int32)
        tensors[f"{name}.qzeros"] = layer.qzeros.data.contiguous()
    qc = {"bits": bits, "group_size": group, "desc_act": False, "sym": True, "lm_head": False, "quant_method": "gptq",
          "checkpoint_format": "gptq_v2", "pack_dtype": "int32"}
    return tensors, deqs, qc


def types_layer(qzeros):
    class Layer:
        def qzero_format(self, format):
            self.format = format
    layer = Layer()
    layer.qzeros = torch.nn.Parameter(qzeros, requires_grad=False)
    return layer


# --- AWQ (AutoAWQ) ---------------------------------------------------------------------------
def awq_variant(model, version, group=32):
    q = object.__new__(AwqQuantizer)
    q.w_bit, q.group_size, q.zero_point = 4, group, True
    tensors, deqs = {}, {}
    for name, lin in linears(model):
        # as AwqQuantizer._apply_quant: the layer's weight becomes the pseudo-quantized one, then packed
        w, scales, zeros = q.pseudo_quantize_tensor(lin.weight.data.clone())  # scales, zeros (out, groups)
        lin = torch.nn.Linear(lin.in_features, lin.out_features, bias=False)
        with torch.no_grad():
            lin.weight.copy_(w)
        gemm = WQLinear_GEMM.from_linear(lin, 4, group, scales=scales.t().contiguous(), zeros=zeros.t().contiguous())
        deqs[name] = dequantize_gemm(gemm.qweight, gemm.qzeros, gemm.scales, 4, group).T.float()  # (out, in)
        ql = gemm if version == "gemm" else WQLinear_GEMV.from_linear(lin, 4, group, scales=scales, zeros=zeros)
        for p in ("qweight", "qzeros", "scales"):
            tensors[f"{name}.{p}"] = getattr(ql, p).contiguous()
    qc = {"quant_method": "awq", "zero_point": True, "group_size": group, "bits": 4, "version": version,
          "modules_to_not_convert": None}
    return tensors, deqs, qc


# --- compressed-tensors (llm-compressor's format) ----------------------------------------------
def ct_variant(model, fmt, bits, strategy, group, symmetric):
    args = QuantizationArgs(num_bits=bits, type="int", symmetric=symmetric, strategy=strategy,
                            group_size=group if strategy == "group" else None)
    scheme = QuantizationScheme(targets=["Linear"], weights=args)
    compressor = BaseCompressor.load_from_registry(fmt)
    tensors, deqs = {}, {}
    for name, lin in linears(model):
        w = lin.weight.data.clone()
        if strategy == "group":
            wg = w.reshape(w.shape[0], -1, group)
            mn, mx = wg.amin(dim=2), wg.amax(dim=2)
        else:
            mn, mx = w.amin(dim=1, keepdim=True), w.amax(dim=1, keepdim=True)
        scale, zp = calculate_qparams(mn, mx, args)
        sd = {"weight": w, "weight_scale": scale.to(w.dtype), "weight_zero_point": zp}
        comp = compressor.compress(sd, scheme)
        for p, t in comp.items():
            tensors[f"{name}.{p}"] = t.contiguous()
        deqs[name] = compressor.decompress(dict(comp), scheme)["weight"].float()
    qconf = QuantizationConfig(config_groups={"group_0": scheme}, format=fmt, quantization_status="compressed",
                               ignore=["lm_head"])
    qc = qconf.model_dump(exclude_none=False)
    qc["quant_method"] = "compressed-tensors"
    return tensors, deqs, qc


# --- bitsandbytes ------------------------------------------------------------------------------
def bnb_variant(model, quant_type, nested, config_only=False):
    tensors, deqs = {}, {}
    for name, lin in ([] if config_only else linears(model)):
        packed, state = bnbf.quantize_4bit(lin.weight.data.clone(), blocksize=64, quant_type=quant_type,
                                           compress_statistics=nested)
        tensors[f"{name}.weight"] = packed.contiguous()
        for k, v in state.as_dict(packed=True).items():
            tensors[f"{name}.weight.{k}"] = v.contiguous()
        deqs[name] = bnbf.dequantize_4bit(packed, state).float()
    qc = {"quant_method": "bitsandbytes", "_load_in_4bit": True, "_load_in_8bit": False, "load_in_4bit": True,
          "load_in_8bit": False, "bnb_4bit_quant_type": quant_type, "bnb_4bit_use_double_quant": nested,
          "bnb_4bit_compute_dtype": "float32", "bnb_4bit_quant_storage": "uint8", "llm_int8_skip_modules": None,
          "llm_int8_threshold": 6.0, "llm_int8_has_fp16_weight": False, "llm_int8_enable_fp32_cpu_offload": False}
    return qc if config_only else (tensors, deqs, qc)


VARIANTS = {
    "gptq-b4g32-act": lambda m: gptq_variant(m, 4, 32, False, True),
    "gptq-b3g32-sym": lambda m: gptq_variant(m, 3, 32, True, False),
    "gptq-b2-col": lambda m: gptq_variant(m, 2, -1, False, False),
    "gptq-b8g64": lambda m: gptq_variant(m, 8, 64, False, False),
    "gptq-b4g32-v2": lambda m: gptq_v2_variant(m, 4, 32),
    "awq-gemm": lambda m: awq_variant(m, "gemm"),
    "awq-gemv": lambda m: awq_variant(m, "gemv"),
    "ct-w4-group-sym": lambda m: ct_variant(m, "pack-quantized", 4, "group", 32, True),
    "ct-w4-group-asym": lambda m: ct_variant(m, "pack-quantized", 4, "group", 32, False),
    "ct-w3-channel-asym": lambda m: ct_variant(m, "pack-quantized", 3, "channel", None, False),
    "ct-w8-group-asym": lambda m: ct_variant(m, "pack-quantized", 8, "group", 32, False),
    "ct-w8-channel-naive": lambda m: ct_variant(m, "int-quantized", 8, "channel", None, True),
    "bnb-nf4-dq": lambda m: bnb_variant(m, "nf4", True),
    "bnb-nf4": lambda m: bnb_variant(m, "nf4", False),
}


GPT2_VARIANTS = {
    "gpt2-gptq-b4g32": gptq_conv1d_variant,
    "gpt2-bnb-nf4-dq": bnb_conv1d_variant,
}


def write_variant(d, sd, cfg, qc):
    os.makedirs(d)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    c = dict(cfg)
    c["quantization_config"] = qc
    c["torch_dtype"] = "float32"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)


def record(ref, vname, d, qc, deqs, logits):
    ref["variants"][vname] = {
        "quantization_config": qc,
        "layers": {n: {"shape": list(t.shape), "sha256": sha(t), "first": [float(x) for x in t.flatten()[:4].tolist()]}
                   for n, t in deqs.items()},
        "logits": [[float(f"{v:.7g}") for v in row] for row in logits.tolist()],
        "bytes": os.path.getsize(os.path.join(d, "model.safetensors")),
    }


def gpt2_variants(ref, ids):
    model = tiny_gpt2()
    names = {n for n, _ in gpt2_linears(model)}
    base_sd = {k: v.contiguous() for k, v in model.transformer.state_dict().items()
               if not k.endswith(".attn.bias") and not k.endswith(".attn.masked_bias")}
    for vname, make in GPT2_VARIANTS.items():
        tensors, deqs, qc = make(model)
        sd = {k: v for k, v in base_sd.items() if not (k.endswith(".weight") and k[:-7] in names)}
        sd.update(tensors)
        d = os.path.join(OUT, vname)
        write_variant(d, sd, model.config.to_dict(), qc)
        deq_model = tiny_gpt2()
        with torch.no_grad():
            for name, conv in gpt2_linears(deq_model):
                conv.weight.copy_(deqs[name].t())
            logits = deq_model(ids).logits[0].double()
        record(ref, vname, d, qc, deqs, logits)
        print(f"{vname}: {os.path.getsize(os.path.join(d, 'model.safetensors'))} bytes")


def main():
    model = tiny_model()
    base_sd = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    ids = torch.randint(0, model.config.vocab_size, (1, 16), generator=torch.Generator().manual_seed(1))
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    ref = {"tools": {"auto_gptq": auto_gptq.__version__, "autoawq": awq.__version__, "compressed_tensors": compressed_tensors.__version__,
                     "bitsandbytes": bitsandbytes.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
           "ids": ids[0].tolist(), "variants": {}}
    cfg = model.config.to_dict()
    # the unquantized model itself, the base every variant is a quantization of
    base_dir = os.path.join(OUT, "f32")
    os.makedirs(base_dir)
    save_file(base_sd, os.path.join(base_dir, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(base_dir, "config.json"), "w") as f:
        json.dump(dict(cfg, torch_dtype="float32"), f, indent=2, sort_keys=True)
    for vname, make in VARIANTS.items():
        tensors, deqs, qc = make(model)
        linear_names = {n for n, _ in linears(model)}
        sd = {k: v for k, v in base_sd.items() if k.rsplit(".", 1)[0] not in linear_names}
        sd.update(tensors)
        d = os.path.join(OUT, vname)
        write_variant(d, sd, cfg, qc)
        deq_model = tiny_model()
        with torch.no_grad():
            for name, lin in linears(deq_model):
                lin.weight.copy_(deqs[name])
            logits = deq_model(ids).logits[0].double()
        record(ref, vname, d, qc, deqs, logits)
        err = max((deqs[n] - lin.weight).abs().max().item() for n, lin in linears(model))
        print(f"{vname}: {os.path.getsize(os.path.join(d, 'model.safetensors'))} bytes, max |W - deq| {err:.4g}")
    gpt2_variants(ref, ids)
    with torch.no_grad():
        ref["unquantized_logits"] = [[float(f"{v:.7g}") for v in row] for row in model(ids).logits[0].double().tolist()]
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(os.path.join(OUT, "reference.json"), os.path.getsize(os.path.join(OUT, "reference.json")), "bytes")


if __name__ == "__main__":
    main()
