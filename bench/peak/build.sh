#!/usr/bin/env sh
# Builds bench/peak/peak (no -march=native: each kernel picks its ISA by target attribute).
set -eu
cd "$(dirname "$0")"
${CXX:-g++} -O2 -std=c++17 -o peak peak.cpp
