#!/bin/bash
# What the chatbot answers, written to files that can be compared byte for byte across a change
# meant to keep behaviour (a refactor, a move): `chatbot eval --json` on every evaluation set,
# `chatbot ask --json` on every question of tests/data, and with --beir `chatbot eval-beir` on
# SciFact. Run it on a checkout before and after, then: cmp BEFORE/X AFTER/X for each file.
#   scripts/snapshot_outputs.sh OUTDIR [--beir]      (from the repository root, after make install)
set -euo pipefail
out=$1; mkdir -p "$out"
py=${PYTHON:-.venv/bin/python}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONPATH=$PWD
$py -m chatbot index --quiet > "$out/index.out" 2>&1
for f in tests/data/article_*.jsonl; do
  $py -m chatbot eval --json "$f" > "$out/eval-$(basename "$f" .jsonl).json"
done
$py scripts/snapshot_inputs.py . "$out/inputs.jsonl"
$py -m chatbot ask --json < "$out/inputs.jsonl" > "$out/ask.jsonl"
if [ "${2:-}" = --beir ]; then
  $py -m chatbot eval-beir ../shared/eval/scifact --json > "$out/beir.json"
fi
