#!/usr/bin/env bash
# The training-side knobs of classifier-free guidance: how much label dropout the unconditional ("null class")
# branch needs on a short budget, and which noise schedule to train with. Trains the `mnist` preset once per
# value of one knob (10 minutes each, same seed) and runs the guidance study on each run with the same
# settings, so rows compare directly with each other and with the preset's own run (dropout 0.1, linear).
#
#   bash benchmarks/training-knobs.sh --knob label-dropout --values 0.2,0.3 [--runs runs] [--scales 0,1,2,3] [--data-dir DIR]
#   bash benchmarks/training-knobs.sh --knob schedule --values cosine,sigmoid
#
# A run folder that already finished (train-result.json) is not trained again; an interrupted one resumes.
# Results: <runs>/<knob>-<value>/ and benchmarks/results/guidance-<knob>-<value>-<UTC time>/.
set -euo pipefail
cd "$(dirname "$0")/.."

knob=; values=; runs=runs; scales=0,1,2,3; data=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --knob) knob=$2 ;; --values) values=$2 ;; --runs) runs=$2 ;; --scales) scales=$2 ;; --data-dir) data=(--data-dir "$2") ;;
    *) echo "error: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift 2
done
case $knob in
  label-dropout|schedule) ;;
  *) echo "error: --knob must be label-dropout or schedule (see the header of $0)" >&2; exit 2 ;;
esac
[[ -n $values ]] || { echo "error: give the knob's values with --values, e.g. --values 0.2,0.3" >&2; exit 2; }

dotnet build samples/Diffusion.Cli -c Release --verbosity quiet
dotnet build benchmarks/Diffusion.Benchmarks.Guidance -c Release --verbosity quiet
cli=(dotnet samples/Diffusion.Cli/bin/Release/net10.0/diffusion.dll)
study=(dotnet benchmarks/Diffusion.Benchmarks.Guidance/bin/Release/net10.0/Diffusion.Benchmarks.Guidance.dll)
for value in ${values//,/ }; do
  run=$runs/$knob-$value
  if [[ ! -f $run/train-result.json ]]; then
    echo "== training the mnist preset with $knob $value -> $run"
    "${cli[@]}" train --preset mnist "--$knob" "$value" --out "$run" "${data[@]}"
  fi
  echo "== guidance study on $run (scales $scales)"
  "${study[@]}" --run "$run" --scales "$scales" --variant-scales none --tsne-scales none \
    --out "benchmarks/results/guidance-$knob-$value-$(date -u +%Y%m%d-%H%M%S)" "${data[@]}"
done
