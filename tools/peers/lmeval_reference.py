"""Reference data for qharness's lm-evaluation-harness parity tests (issue 31), made once with
lm-eval itself and committed as tests/data/smollm2/lmeval/TASK.json.

The model is SmolLM2-135M-Instruct as qharness runs it: the F32 dequantization of
models/smollm2/model.gguf, which transformers loads (its GGUF reader dequantizes with the `gguf`
package).  The tokenizer is Hugging Face's `tokenizers` built on the file's own vocabulary and
merges with the model's pre-tokenizer (tools/peers/hf_tokenizer.py; transformers' own GGUF
tokenizer conversion leaves out the digit split of llama.cpp's `smollm` pre-tokenizer), given to
lm-eval's HFLM as a PreTrainedTokenizerFast.  No BOS: HFLM adds none by default, and the file
says add_bos_token = false.

lm-eval runs its own task definitions (lm_eval/tasks/*: doc_to_text, doc_to_choice,
target_delimiter, preprocessing, metrics), on local copies of the data qharness ships, written
in the fields those definitions read (no network).  The shipped files are lm-eval-style
preprocessed sets, so a few fields are reconstructed; each is noted where it is built and only
ever changes text that lm-eval's own preprocessing then normalises the same way:
  - ARC, PIQA: the question is the shipped query without its "Question: " prefix (stripped);
  - OpenBookQA: question_stem = the shipped query;
  - WinoGrande: sentence = the two context options' common prefix + "_ " + continuation (lm-eval
    cuts the sentence at "_" and scores " " + the rest, stripped: the same requests);
  - COPA: premise = the query without ", therefore"/", because" + "." (lm-eval drops the last
    character of the premise and appends " therefore"/" because");
  - LAMBADA: text as shipped (lambada_openai);
  - MMLU: the shipped CSVs (question, choices, answer index) per subject, dev as the few-shot split.
  - HellaSwag: the shipped file (llama.cpp's hellaswag_val_full.txt) joins "activity_label: ctx_a ctx_b";
    activity_label is what precedes the first ": ", and ctx_b is rebuilt as qharness rebuilds it
    (datasets/mc.c, qh_hellaswag_ctx_b): empty in WikiHow items (the body starts "How to "), else what
    follows the last ". ", "! " or "? " of the body.  lm-eval's own process_docs then capitalises
    ctx_b and preprocesses; the reference also keeps the sha256 of every one of the 10,042 queries
    and choice lists as lm-eval builds them, which qharness's test recomputes.

Per task, the first N documents of the split (lm-eval's --limit takes the first N; MMLU: the
first N of each subject), every request's log-likelihood and greedy flag, and lm-eval's own
per-document acc / acc_norm (and the aggregate), as lm-eval's logged samples give them.

    /usr/bin/python3 -m venv --system-site-packages .peers/lmeval     # Debian's python3-torch 1.13
    printf 'torch==1.13.0a0+gitunknown\\n' > /tmp/torch-constraint.txt
    .peers/lmeval/bin/pip install -c /tmp/torch-constraint.txt transformers==4.46.3 gguf==0.10.0 tokenizers==0.20.3 \\
        "numpy<2" accelerate==1.1.1 datasets==3.1.0 evaluate==0.4.3 fsspec==2024.9.0 pyarrow==17.0.0 jinja2 \\
        jsonlines numexpr pybind11 pytablewriter rouge-score sacrebleu scikit-learn sqlitedict tqdm-multiprocess \\
        zstandard dill word2number more_itertools sentencepiece==0.2.0
    .peers/lmeval/bin/pip install --no-deps lm_eval==0.4.5 peft==0.13.2
    .peers/lmeval/bin/python tools/peers/lmeval_reference.py [TASK ...]
"""
import csv
import hashlib
import json
import os
import re
import sys
import tempfile

import gguf
import lm_eval
import torch
import transformers
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODEL_DIR = os.path.join(ROOT, "models/smollm2")
MODEL = os.path.join(MODEL_DIR, "model.gguf")
DATA = os.path.join(ROOT, "datasets")
OUT = os.path.join(ROOT, "tests/data/smollm2/lmeval")
TASKS_DIR = os.path.join(os.path.dirname(lm_eval.__file__), "tasks")
LIMIT = 200
MMLU_PER_SUBJECT = 4


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def strip_question(q):
    return q[len("Question:"):].strip() if q.startswith("Question:") else q.strip()


def arc_docs(name):
    out = []
    for d in jsonl(os.path.join(DATA, f"multiple-choice/{name}.jsonl")):
        labels = [chr(ord("A") + i) for i in range(len(d["choices"]))]
        out.append({"id": str(len(out)), "question": strip_question(d["query"]),
                    "choices": {"text": d["choices"], "label": labels}, "answerKey": labels[d["gold"]]})
    return out


def piqa_docs():
    return [{"goal": strip_question(d["query"]), "sol1": d["choices"][0], "sol2": d["choices"][1], "label": d["gold"]}
            for d in jsonl(os.path.join(DATA, "multiple-choice/piqa.jsonl"))]


def openbookqa_docs():
    out = []
    for d in jsonl(os.path.join(DATA, "multiple-choice/openbook_qa.jsonl")):
        labels = [chr(ord("A") + i) for i in range(len(d["choices"]))]
        out.append({"id": str(len(out)), "question_stem": d["query"],
                    "choices": {"text": d["choices"], "label": labels}, "answerKey": labels[d["gold"]]})
    return out


def winogrande_docs():
    out = []
    for d in jsonl(os.path.join(DATA, "multiple-choice/winogrande.jsonl")):
        a, b = d["context_options"]
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        prefix = a[:k]
        out.append({"sentence": prefix + "_ " + d["continuation"], "option1": a[k:], "option2": b[k:],
                    "answer": str(d["gold"] + 1)})
    return out


def copa_docs():
    out = []
    for d in jsonl(os.path.join(DATA, "multiple-choice/copa.jsonl")):
        q = d["query"]
        for sep, kind in ((", therefore", "effect"), (", because", "cause")):
            if q.endswith(sep):
                premise, question = q[: -len(sep)] + ".", kind
                break
        else:
            sys.exit(f"copa: query {q!r} ends with neither ', therefore' nor ', because'")
        out.append({"premise": premise, "choice1": d["choices"][0], "choice2": d["choices"][1],
                    "question": question, "label": d["gold"], "idx": len(out)})
    return out


def hellaswag_docs():
    with open(os.path.join(DATA, "hellaswag/hellaswag_val_full.txt"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    for i in range(0, len(lines) - 5, 6):
        activity_label, body = lines[i].split(": ", 1)
        ctx_a, ctx_b = body, ""
        if not body.startswith("How to "):
            cut = [m.end() for m in re.finditer(r"[.!?] ", body)]
            if cut and cut[-1] < len(body):
                ctx_a, ctx_b = body[: cut[-1] - 1], body[cut[-1]:]
        out.append({"ind": len(out), "activity_label": activity_label, "ctx_a": ctx_a, "ctx_b": ctx_b,
                    "ctx": ctx_a + (" " + ctx_b if ctx_b else ""), "endings": lines[i + 2: i + 6],
                    "label": lines[i + 1], "split": "val"})
    return out


def hellaswag_all_sha256(docs):
    """lm-eval's own process_docs over every document: sha256 of "query\tchoice\t...\n" lines."""
    import datasets
    from lm_eval.tasks.hellaswag import utils as hellaswag_utils
    h = hashlib.sha256()
    for d in hellaswag_utils.process_docs(datasets.Dataset.from_list(docs)):
        h.update(("\t".join([d["query"]] + list(d["choices"])) + "\n").encode("utf-8"))
    return h.hexdigest()


def lambada_docs():
    return [{"text": d["text"]} for d in jsonl(os.path.join(DATA, "lambada/lambada_test.jsonl"))]


def mmlu_docs(subject, split):
    path = os.path.join(DATA, f"mmlu/{split}/{subject}_{split}.csv")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [{"question": r[0], "subject": subject, "choices": r[1:5], "answer": int(r[5])} for r in rows]


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")


def task_yaml(tmp, name, include, split_files, extra=""):
    """A task that is lm-eval's own definition (include) on local JSON files."""
    lines = [f"task: {name}", f"include: {include}", "dataset_path: json", "dataset_name: null", "dataset_kwargs:",
             "  data_files:"]
    for split, path in split_files.items():
        lines.append(f"    {split}: {path}")
    lines.append("test_split: test")
    lines.append("validation_split: null")
    lines.append("training_split: null")
    lines.append("fewshot_split: " + ("dev" if "dev" in split_files else "null"))
    lines.append("tag: []")
    if extra:
        lines.append(extra)
    with open(os.path.join(tmp, f"{name}.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def build_tokenizer():
    reader = gguf.GGUFReader(MODEL)

    def strings(key):
        fld = reader.fields[key]
        return [bytes(fld.parts[i]).decode("utf-8") for i in fld.data]

    tokens = strings("tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in strings("tokenizer.ggml.merges")]
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    eos = reader.fields["tokenizer.ggml.eos_token_id"].parts[-1][0]
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=tokens[eos])
    return fast


def main():
    wanted = sys.argv[1:]
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="qh-lmeval-")
    tasks = {}  # our name -> (lm-eval task names, what)

    def simple(name, docs, include, lm_name):
        if wanted and name not in wanted:
            return
        path = os.path.join(tmp, f"{name}.jsonl")
        write_jsonl(path, docs)
        task_yaml(tmp, f"qh_{name}", os.path.join(TASKS_DIR, include), {"test": path})
        tasks[name] = ([f"qh_{name}"], lm_name)

    simple("arc-easy", arc_docs("arc_easy"), "arc/arc_easy.yaml", "arc_easy")
    simple("arc-challenge", arc_docs("arc_challenge"), "arc/arc_challenge.yaml", "arc_challenge")
    simple("piqa", piqa_docs(), "piqa/piqa.yaml", "piqa")
    simple("openbookqa", openbookqa_docs(), "openbookqa/openbookqa.yaml", "openbookqa")
    simple("winogrande", winogrande_docs(), "winogrande/default.yaml", "winogrande")
    simple("copa", copa_docs(), "super_glue/copa/default.yaml", "copa")
    simple("lambada", lambada_docs(), "lambada/lambada_openai.yaml", "lambada_openai")
    simple("hellaswag", hellaswag_docs(), "hellaswag/hellaswag.yaml", "hellaswag")
    for shots in (0, 5):  # 5-shot: its reference is not made yet (an hour of this machine's two cores)
        name = f"mmlu-{shots}shot"
        if wanted and name not in wanted:
            continue
        subjects = sorted(f[: -len("_test.csv")] for f in os.listdir(os.path.join(DATA, "mmlu/test")) if f.endswith("_test.csv"))
        names = []
        for s in subjects:
            files = {}
            for split in ("test", "dev"):
                p = os.path.join(tmp, f"mmlu_{s}_{split}.jsonl")
                write_jsonl(p, mmlu_docs(s, split))
                files[split] = p
            pretty = s.replace("_", " ")
            task_yaml(tmp, f"qh_mmlu{shots}_{s}", os.path.join(TASKS_DIR, "mmlu/default/_default_template_yaml"), files,
                      f'description: "The following are multiple choice questions (with answers) about {pretty}.\\n\\n"')
            names.append(f"qh_mmlu{shots}_{s}")
        tasks[name] = (names, f"mmlu (lettered, {shots}-shot)")

    tok = build_tokenizer()
    model = transformers.AutoModelForCausalLM.from_pretrained(MODEL_DIR, gguf_file="model.gguf", torch_dtype=torch.float32,
                                                         tie_word_embeddings=True)  # the file has no output.weight: the head is the embedding
    model.eval()
    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=16, max_length=2048)
    # five MMLU shots run past 2,048 tokens in a few subjects (European history's passages):
    # 4,096, within the model's 8,192, so that no request is cut
    lm_long = HFLM(pretrained=model, tokenizer=tok, batch_size=4, max_length=4096)
    tm = TaskManager(include_path=tmp, include_defaults=True)
    for name, (lm_names, lm_name) in tasks.items():
        shots = 5 if name == "mmlu-5shot" else 0
        limit = MMLU_PER_SUBJECT if name.startswith("mmlu") else LIMIT
        res = lm_eval.simple_evaluate(model=lm_long if shots == 5 else lm, tasks=lm_names, num_fewshot=shots, limit=limit, log_samples=True,
                                      task_manager=tm, random_seed=0, numpy_random_seed=0, torch_random_seed=0,
                                      fewshot_random_seed=0, bootstrap_iters=0)
        items = []
        for t in lm_names:
            subject = t[len("qh_mmlu0_"):] if name.startswith("mmlu") else None
            for s in sorted(res["samples"][t], key=lambda x: x["doc_id"]):
                resps = [r[0] for r in s["resps"]]
                it = {"doc_id": s["doc_id"], "ll": [float(r[0]) for r in resps], "greedy": [bool(r[1]) for r in resps],
                      "target": s["target"], "continuations": [a[1] for a in s["arguments"]]}
                if not items:  # one context in full, to show the prompt; the rest are as lm-eval builds them
                    it["first_context"] = s["arguments"][0][0]
                if name == "hellaswag":  # the rebuilt contexts are what is being checked: every one
                    it["context"] = s["arguments"][0][0]
                for k in ("acc", "acc_norm", "perplexity"):
                    if k in s:
                        it[k] = float(s[k])
                if subject:
                    it["subject"] = subject
                items.append(it)
        agg = {}
        for t in lm_names:
            for k, v in res["results"][t].items():
                if isinstance(v, (int, float)) and "stderr" not in k:
                    agg.setdefault(k, []).append(v)
        out = {
            "task": name, "lm_eval_task": lm_name, "num_fewshot": shots, "limit_per_task": limit,
            "max_length": 4096 if shots == 5 else 2048,
            "model": "models/smollm2/model.gguf (F32 dequantization by transformers' GGUF loader)",
            "tokenizer": "tokenizers BPE from the file's vocabulary and merges, smollm pre-tokenizer, no BOS",
            "tools": {"lm_eval": "0.4.5", "transformers": transformers.__version__, "torch": torch.__version__,
                      "gguf": "0.10.0"},
            "results": {k: sum(v) / len(v) for k, v in agg.items() if k.split(",")[0] in ("acc", "acc_norm")},
            "items": items,
        }
        if name == "hellaswag":
            docs = hellaswag_docs()
            out["all_documents"] = {"count": len(docs), "sha256_query_choices": hellaswag_all_sha256(docs),
                                    "ctx_b_rule": "empty when the body starts 'How to ', else after the last '. ', '! ' or '? '"}
        with open(os.path.join(OUT, f"{name}.json"), "w") as f:
            json.dump(out, f, indent=0, ensure_ascii=False)
        print(f"{name}: {len(items)} documents, {out['results']}", flush=True)


if __name__ == "__main__":
    main()
