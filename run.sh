#!/usr/bin/env bash
# The main job, start to finish on a CPU: restore, prepare, train the `mnist` preset (10 minutes),
# write a 10x10 grid (row = digit) and a denoising GIF, and print the class accuracy.
#   bash run.sh                 outputs in runs/mnist (an existing run there is resumed)
#   OUT=runs/other bash run.sh  another run folder; extra arguments go to `train` (e.g. --minutes 2)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/prepare.sh
dotnet build samples/Diffusion.Cli -c Release --no-restore --verbosity quiet
cli=(dotnet samples/Diffusion.Cli/bin/Release/net10.0/diffusion.dll)
out=${OUT:-runs/mnist}
"${cli[@]}" train --preset mnist --out "$out" "$@"
"${cli[@]}" sample --run "$out" --count 100 --guidance 3 --sampler ddim --steps 50 --seed 0 \
  --out "$out/grid.png" --gif "$out/denoise.gif"
# 50 samples per class at guidance 3 keeps the whole job under 15 minutes; `diffusion eval --count 100 --guidance 1,3,5,7` for more.
"${cli[@]}" eval --run "$out" --count 50 --guidance 3 --sampler ddim --steps 50
echo "Grid: $out/grid.png  GIF: $out/denoise.gif  Report: $out/eval.md  Loss curve: $out/loss.png"
