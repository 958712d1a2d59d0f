#!/usr/bin/env bash
# Whole int8 networks of the shared quantized models, checked byte for byte without Python by
# tests/cpp/int8_network_check.cpp: writes the cases into CASE_DIR unless it exists
# (tests/cross/int8_cases.py, with this machine's python3; skipped, saying why, where mobilenet
# or the models are absent), runs the checker on them, then on a case whose layer 10 (a 1x1) has
# one weight changed by one, which must fail at that layer and nowhere before it.
#
# Usage: tests/cross/int8_networks.sh CASE_DIR CHECKER...   (the checker command, with any
#        emulator and options, to which the case files are appended)
# e.g.   tests/cross/int8_networks.sh build/cpp-tests/int8-cases build/cpp-tests/int8_network_check
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: tests/cross/int8_networks.sh CASE_DIR CHECKER..."; exit 2; }
cases=$1
shift
if [ ! -d "$cases" ]; then
  if ! python3 -c "import mobilenet" 2>/dev/null; then
    echo "int8_networks: skipped: python3 cannot import mobilenet (pip install . first)"
    exit 0
  fi
  python3 tests/cross/int8_cases.py "$cases"
  [ -d "$cases" ] && python3 tests/cross/int8_cases.py "$cases/flipped" --model 0.25_128 --flip-weight 10
fi
[ -d "$cases" ] || { echo "int8_networks: skipped: no cases (see above)"; exit 0; }

"$@" "$cases"/*.case

status=0
out=$("$@" "$cases/flipped/0.25_128.case") || status=$?
first=$(grep -m 1 FAIL <<<"$out" || true)
if [ $status -ne 1 ] || [[ $first != "FAIL ["*"] 0.25_128 layer 10 alone"* ]]; then
  echo "$out"
  echo "int8_networks: a weight of layer 10 changed by one was not reported there (exit status $status)"
  exit 1
fi
echo "int8_networks: a weight of layer 10 changed by one is reported: $first"
