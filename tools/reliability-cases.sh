#!/bin/bash
# reliability-cases.sh - the cases of issue 29 ("never a believable wrong number"), each run as a
# hostile user would, printing one Markdown row per case: what was done, the exit status and the
# output's last line.  Run it against two builds to get the before/after table of the issue:
#
#   tools/reliability-cases.sh BINARY HOME      (HOME: that build's checkout, its QHARNESS_HOME)
#
# Fixtures go to a fresh temporary folder (removed at the end).  The NaN models are copies of
# the default model with one F16 value replaced (python3, no other module).  Slow cases use
# small budgets; the outputs differ from the issue's only where the budget does.  The unit tests
# that hold each case are in tests/check_reliability.c: this script is for the note, not a test.
set -u
QH=$(readlink -f "$1")
export QHARNESS_HOME=$(readlink -f "$2")
T=$(mktemp -d)
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
M=$QHARNESS_HOME/models/gpt2-gutenberg-18m

row() { # row LABEL COMMAND...: runs the command in $T, prints | label | rc | last line |
    local label=$1
    shift
    local out rc
    out=$(cd "$T" && bash -o pipefail -c "$*" 2>&1)
    rc=$?
    local last
    last=$(printf '%s\n' "$out" | grep -v '^\s*$' | tail -n 1 | cut -c 1-150 | sed 's/|/\\|/g')
    printf '| %s | %s | %s |\n' "$label" "$rc" "$last"
}

# a copy of the default model with F16 value BITS at element INDEX of TENSOR
nan_model() { # nan_model DIR TENSOR INDEX BITS
    mkdir -p "$1" && cp "$M"/config.json "$M"/vocab.json "$M"/merges.txt "$1"/
    python3 - "$M/model.safetensors" "$1/model.safetensors" "$2" "$3" "$4" <<'EOF'
import json, struct, sys
src, dst, name, index, bits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5], 16)
b = bytearray(open(src, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])[name]
assert t["dtype"] == "F16"
at = 8 + n + t["data_offsets"][0] + 2 * index
b[at:at + 2] = struct.pack("<H", bits)
open(dst, "wb").write(b)
EOF
}
nan_model "$T/nan" h.2.mlp.c_fc.weight 100 7e00
nan_model "$T/inf_embd" wte.weight 1795 7c00
nan_model "$T/inf_norm" ln_f.weight 5 fc00

experiment() { # experiment FILE CTX TASK-LINE [MODEL]
    printf '[experiment]\nname = %s\nmodels = %s\nctx = %s\n\n[tasks]\n%s\n\n[method baseline]\nmethod = none\n' \
        "$(basename "$1" .ini)" "${4:-default}" "$2" "$3" > "$T/$1"
}

echo "| case | rc | last line of the output |"
echo "|---|---|---|"
# 1. context past the model's, in an experiment file
for c in 300 5000 100000; do
    experiment ctx$c.ini $c 'ppl.wikitext2-test = 1024'
    row "experiment ctx = $c, sweep --dry-run" "$QH sweep ctx$c.ini --db x.sqlite --dry-run"
done
experiment mc1024.ini 1024 'arc-easy = 20'
row "experiment ctx = 1024, arc-easy 20 items: sweep, then the stored protocol" \
    "$QH sweep mc1024.ini --db mc.sqlite 2>&1 | tail -n 1; sqlite3 mc.sqlite \"SELECT DISTINCT 'stored: ' || substr(protocol, instr(protocol, 'ctx'), 8) FROM metrics\" 2>&1"
# 2. non-finite weights
row "NaN in h.2.mlp.c_fc.weight: mc --task arc-easy --n 100" "$QH mc nan --task arc-easy --n 100 2>&1 | grep -i '^acc\|qharness:'"
for m in "rtn bits=4" nf4 ternary "outliers + rtn bits=4"; do
    row "NaN model: ppl --method \"$m\" (1,024 tokens)" "$QH ppl nan wikitext2-test --max-tokens 1024 --method \"$m\" 2>&1 | grep -i '^perplexity\|qharness:'"
done
row "NaN model: ppl (1,024 tokens)" "$QH ppl nan wikitext2-test --max-tokens 1024 2>&1 | grep -i '^perplexity\|qharness:'"
row "NaN model: ppl --json" "$QH ppl nan wikitext2-test --max-tokens 1024 --json 2>&1 | grep -o '\"ppl\":[^,]*\|qharness:.*'"
row "Inf in wte.weight (tied head): ppl" "$QH ppl inf_embd wikitext2-test --max-tokens 1024 2>&1 | grep -i '^perplexity\|qharness:'"
row "-Inf in ln_f.weight: mc --task arc-easy --n 100" "$QH mc inf_norm --task arc-easy --n 100 2>&1 | grep -i '^acc\|qharness:'"
experiment nan.ini 256 'ppl.wikitext2-test = 1024' "$T/nan"
row "NaN model in a sweep (ppl task)" "$QH sweep nan.ini --db nan.sqlite"
row "... and sweep --resume" "$QH sweep nan.ini --db nan.sqlite --resume"
# 3. fixed temporary names
row "symlink planted at out.safetensors.tmp, quantize -o out.safetensors: size of the link's target" \
    "printf 'precious data\n' > victim.txt; ln -s victim.txt out.safetensors.tmp; ln -s victim.txt out.safetensors.partial; \
     $QH quantize default --method 'rtn bits=4 group=64' -o out.safetensors >/dev/null 2>&1; echo \"quantize rc \$?, victim.txt \$(stat -c '%s bytes' victim.txt)\""
for b in 4 3; do
    row "quantize -o alone$b.safetensors with rtn bits=$b group=64 alone, then its ppl (4,096 tokens)" \
        "$QH quantize default --method 'rtn bits=$b group=64' -o alone$b.safetensors >/dev/null 2>&1; $QH ppl alone$b.safetensors wikitext2-test --max-tokens 4096 | grep -i perplexity"
done
row "two quantize -o same.safetensors at once (bits 4 and 3), then ppl of same.safetensors (4,096 tokens)" \
    "$QH quantize default --method 'rtn bits=4 group=64' -o same.safetensors >/dev/null 2>&1 & \
     $QH quantize default --method 'rtn bits=3 group=64' -o same.safetensors >/dev/null 2>&1; wait; \
     $QH ppl same.safetensors wikitext2-test --max-tokens 4096 | grep -i perplexity"
# 4. a full disk: a 2 MB tmpfs when this user can mount one (as the issue did), else a file-size limit
DB=$QHARNESS_HOME/docs/assessment.sqlite
mkdir -p "$T/full"
if mount -t tmpfs -o size=2m tmpfs "$T/full" 2>/dev/null; then
    trap 'umount "$T/full" 2>/dev/null; chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
    FULL="dd if=/dev/zero of=full/fill bs=64k 2>/dev/null;"
    how="2 MB tmpfs filled"
else
    FULL="trap '' XFSZ; ulimit -f 20;"
    how="ulimit -f 20"
fi
row "report -o report.md, disk full ($how)" \
    "$FULL $QH report --db $DB --experiment default -o full/report.md; echo \"report rc \$?, \$(stat -c 'report.md %s bytes' full/report.md 2>/dev/null || echo 'no report.md')\""
row "plot -o charts, disk full ($how)" \
    "$FULL $QH plot --db $DB --experiment default -o full/charts 2>&1 | tail -n 1; echo \"plot rc \$?, \$(ls full/charts 2>/dev/null | wc -l) files, \$(cat full/charts/*.png 2>/dev/null | wc -c) bytes of PNG\""
row "results --csv > r.csv, disk full ($how)" \
    "$FULL $QH results --db $DB --experiment default --csv > full/r.csv; echo \"results rc \$?, r.csv \$(stat -c '%s bytes' full/r.csv)\""
row "results --csv > /dev/full" "$QH results --db $DB --experiment default --csv > /dev/full"
# 5. a packed file and its tokenizer
mkdir -p "$T/a" "$T/b/m" && cp -r "$M" "$T/a/m" && cp "$M"/config.json "$T/b/m/" && ln -s "$M"/model.safetensors "$T/b/m/" &&
    cp "$QHARNESS_HOME"/models/stories260K/tok512.bin "$T/b/m/"
row "packed file made in folder a/ from the model 'm' (relative path), ppl from a/ (1,024 tokens)" \
    "cd a && $QH quantize m --method 'rtn bits=4 group=64' -o ../p.safetensors >/dev/null 2>&1; $QH ppl ../p.safetensors wikitext2-test --max-tokens 1024 | grep -i perplexity"
row "... the same file from folder b/, whose m/ holds another tokenizer (stories260K's tok512.bin)" \
    "cd b && $QH ppl ../p.safetensors wikitext2-test --max-tokens 1024 | grep -i perplexity"
# 6. smaller ones
printf '[experiment]\nname = x\nmodels = default\n[tasks]\nppl.wikitext2-test = 1024\n[experiment]\nname = y\n[method b]\nmethod = none\n' > "$T/dup.ini"
row "duplicate [experiment] section: sweep --dry-run" "$QH sweep dup.ini --dry-run | grep -i 'experiment\|error' | head -n 1"
printf '[experiment]\nname = x\000y\nmodels = default\n[tasks]\nppl.wikitext2-test = 1024\n[method b]\nmethod = none\n' > "$T/nul.ini"
row "NUL byte inside name = x<NUL>y: sweep --dry-run" "$QH sweep nul.ini --dry-run | grep -i 'experiment\|error' | head -n 1"
if [ "$(id -u)" = 0 ] && [ -x /usr/bin/setpriv ]; then
    row "results from a WAL database in a folder the reader cannot write (user nobody)" \
        "chmod 755 $T && cp $QH qh && mkdir ro && cp $DB ro/r.sqlite && chmod 555 ro && \
         setpriv --reuid=65534 --regid=65534 --clear-groups ./qh results --db ro/r.sqlite --experiment default > r.txt 2> e.txt; \
         echo \"results rc \$?, \$(grep -c . r.txt) lines printed \$(head -c 100 e.txt)\""
fi
experiment lock.ini 256 'ppl.wikitext2-test = 512'
row "two sweep --resume of one experiment at once (its run set back to pending): runs each did" \
    "$QH sweep lock.ini --db lock.sqlite >/dev/null 2>&1; sqlite3 lock.sqlite \"UPDATE runs SET status='pending'\"; \
     ($QH sweep lock.ini --db lock.sqlite --resume > a.log 2>&1 & $QH sweep lock.ini --db lock.sqlite --resume > b.log 2>&1; wait); \
     for f in a.log b.log; do printf '%s: %s; ' \$f \"\$(grep -c 'done in [0-9]' \$f) runs done \$(grep -o 'is being swept by another process' \$f)\"; done"
printf '[claim]\nname = c\nmodel = default\nmethod = binary\ntask = ppl.wikitext2-test\nmetric = ppl\nretained = 0.5\nclaimed_bpp = inf\nbudget = 256\n' > "$T/bpp.ini"
printf '[claim]\nname = c\nmodel = default\nmethod = binary\ntask = ppl.wikitext2-test\nmetric = ppl\nretained = inf\nbudget = 256\n' > "$T/ret.ini"
row "claim claimed_bpp = inf: audit" "mkdir -p a1 && $QH audit bpp.ini --db a1/a.sqlite | grep -i 'supported\|refuted\|inconclusive\|claimed_bpp' | tail -n 1"
row "... where it wrote: ./results/ exists" "test -e results && echo yes || echo no"
row "claim retained = inf: audit" "$QH audit ret.ini --db a1/b.sqlite | grep -i 'supported\|refuted\|inconclusive\|retained' | tail -n 1"
printf 'Hello world' > "$T/two.txt"
row "a two-token text: ppl" "$QH ppl default two.txt | grep -i perplexity"
mkdir -p "$T/l" && head -c 40 "$QHARNESS_HOME/models/stories260K/stories260K.bin" | tr '\000' '\377' > "$T/l/m.bin"
row "corrupt llama2.c header: info" "$QH info l"
printf 'GGUX\003\000\000\000' > "$T/b.gguf"
row "GGUF with a bad magic: info" "$QH info b.gguf"
row "a directory as TEXT: ppl default DIR" "$QH ppl default l"
row "ppl --batch 100000" "$QH ppl default wikitext2-test --batch 100000"
row "model folder with config.json changed (SHA256SUMS shipped): info" \
    "cp -r $M m && printf ' ' >> m/config.json && $QH info m | head -n 1"
printf '{"experiment":"x","experiment_id":1,"experiment_file":"/x.ini","experiment_sha256":"%064d","db":"/x.sqlite","submission":1,"tasks":[[{"run":1,"model_id":1,"config_id":1,"model_index":0,"config_index":1e30,"ordinal":0,"model_sha256":"%064d"}]]}' 0 0 > "$T/plan.json"
row "plan JSON with config_index 1e30: sweep-task" "$QH sweep-task plan.json 0"
printf '[experiment]\nname = big\nmodels = default\n\n[tasks]\nppl.wikitext2-test = 256\n\n[method g]\nmethod = rtn\nbits = 2, 3, 4, 5, 6, 7, 8\ngroup = 0, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536\nscheme = sym, asym\n\n[method gptq]\nmethod = gptq\nbits = 4\n' > "$T/big.ini"
row "211-run grid with GPTQ: sweep --dry-run (warning, calibration in the estimate)" \
    "$QH sweep big.ini --dry-run | grep -i 'warning\|calibration\|estimate' | tr '\n' ' ' | cut -c 1-150"
