#!/usr/bin/env bash
# The training-side knob of classifier-free guidance: how much label dropout the unconditional ("null class")
# branch needs on a short budget. Trains the `mnist` preset once per dropout rate (10 minutes each, same seed)
# and runs the guidance study on each run with the same settings, so rows compare directly.
#
#   bash benchmarks/label-dropout.sh [--rates 0.2,0.3] [--runs runs] [--scales 0,1,2,3] [--data-dir DIR]
#
# A run folder that already finished (train-result.json) is not trained again; an interrupted one resumes.
# Results: <runs>/dropout-<rate>/ and benchmarks/results/guidance-dropout-<rate>-<UTC time>/.
set -euo pipefail
cd "$(dirname "$0")/.."

rates=0.2,0.3; runs=runs; scales=0,1,2,3; data=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --rates) rates=$2 ;; --runs) runs=$2 ;; --scales) scales=$2 ;; --data-dir) data=(--data-dir "$2") ;;
    *) echo "error: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2
done

dotnet build samples/Diffusion.Cli -c Release --verbosity quiet
dotnet build benchmarks/Diffusion.Benchmarks.Guidance -c Release --verbosity quiet
cli=(dotnet samples/Diffusion.Cli/bin/Release/net10.0/diffusion.dll)
study=(dotnet benchmarks/Diffusion.Benchmarks.Guidance/bin/Release/net10.0/Diffusion.Benchmarks.Guidance.dll)
for rate in ${rates//,/ }; do
  run=$runs/dropout-$rate
  if [[ ! -f $run/train-result.json ]]; then
    echo "== training the mnist preset with label dropout $rate -> $run"
    "${cli[@]}" train --preset mnist --label-dropout "$rate" --out "$run" "${data[@]}"
  fi
  echo "== guidance study on $run (scales $scales)"
  "${study[@]}" --run "$run" --scales "$scales" --variant-scales none --tsne-scales none \
    --out "benchmarks/results/guidance-dropout-$rate-$(date -u +%Y%m%d-%H%M%S)" "${data[@]}"
done
