#!/usr/bin/env bash
# Runs the test suite: restore, prepare TorchSharp's native library, build, test.
#   bash test.sh          fast tests (the default, a few minutes)
#   bash test.sh --slow   only the slow end-to-end tests (real MNIST training runs, CLI loops)
#   bash test.sh --all    both
# Datasets are read from $DIFFUSION_DATA (default: ../shared/data next to this checkout, else ./data).
set -euo pipefail
cd "$(dirname "$0")"
filter="Category!=Slow"
case "${1:-}" in
  --slow) filter="Category=Slow" ;;
  --all) filter="" ;;
  "") ;;
  *) echo "usage: bash test.sh [--slow|--all]" >&2; exit 2 ;;
esac
source scripts/prepare.sh
log=$(mktemp)
set +e
# Build everything (samples and benchmarks too) so a compile error anywhere fails the run.
dotnet build Diffusion.sln -c Release --no-restore --verbosity quiet 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" = 0 ]; then
  # One test assembly at a time: two libtorch processes on 2 cores slow each other down many times over, and
  # `dotnet test` on the solution starts several assemblies in parallel.
  for project in tests/*/*.csproj; do
    dotnet test "$project" -c Release --no-build ${filter:+--filter "$filter"} 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
  done
fi
set -e
# One summary line over all test assemblies ("N passed, N failed").
awk '/Failed: +[0-9]+, Passed: +[0-9]+/ {
       for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     } END { gsub(",", "", f); printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit "$status"
