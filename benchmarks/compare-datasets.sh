#!/usr/bin/env bash
# Refreshes the datasets comparison page (roadmap 1.3): for every run folder given, draws a sample grid,
# evaluates the run (class accuracy for class-conditional runs; FID, KID, precision/recall with their
# real-vs-real floors) and writes one Markdown page with a metrics row and a grid per run.
#
#   bash benchmarks/compare-datasets.sh [--out docs/datasets.md] [--count 100] [--guidance 3]
#        [--sampler dpmpp_2m] [--steps 20] [--data-dir DIR] RUN [RUN ...]
#
# --count is samples per class for class-conditional runs and the total (x10) for unconditional ones, so
# every run is measured on the same N. Features: each dataset's own classifier for class-conditional runs,
# the ImageNet ResNet18 for unconditional ones (the CLI's defaults). Runs that already hold an eval.json
# made with the same settings are evaluated again: the page always shows what this invocation measured.
set -euo pipefail
cd "$(dirname "$0")/.."

out=docs/datasets.md; count=100; guidance=3; sampler=dpmpp_2m; steps=20; data=()
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --out) out=$2 ;; --count) count=$2 ;; --guidance) guidance=$2 ;; --sampler) sampler=$2 ;; --steps) steps=$2 ;;
    --data-dir) data=(--data-dir "$2") ;;
    *) echo "error: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
if [[ $# -eq 0 ]]; then echo "error: name at least one run folder (see the header of $0)" >&2; exit 2; fi

dotnet build samples/Diffusion.Cli -c Release --verbosity quiet
cli=(dotnet samples/Diffusion.Cli/bin/Release/net10.0/diffusion.dll)
runs=()
for run in "$@"; do
  [[ -f $run/run.json ]] || { echo "error: '$run' is not a run folder (run.json missing)" >&2; exit 2; }
  if grep -q '"numClasses": null' "$run/run.json"; then
    # Unconditional: no guidance to pass.
    metrics=fid,kid,pr; n=$((count * 10)); grid=64; guide=(); how=unconditional
  else
    metrics=accuracy,fid,kid,pr; n=$count; grid=100; guide=(--guidance "$guidance"); how="guidance $guidance"
  fi
  echo "== $run: grid, then $metrics on $((count * 10)) samples ($sampler $steps, $how)"
  "${cli[@]}" sample --run "$run" --count "$grid" --sampler "$sampler" --steps "$steps" "${guide[@]}"
  "${cli[@]}" eval --run "$run" --metrics "$metrics" --count "$n" --sampler "$sampler" --steps "$steps" "${guide[@]}" "${data[@]}"
  runs+=("$run")
done
"${cli[@]}" report --runs "$(IFS=,; echo "${runs[*]}")" --out "$out"
