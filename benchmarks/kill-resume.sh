#!/usr/bin/env bash
# Kill-and-resume trials on real processes (issue 15's figures): an uninterrupted `tiny` run is the reference; then
# TRIALS times a run is killed with SIGKILL at a random moment, resumed to the end, and its model, EMA and optimizer
# checkpoint files are compared byte for byte with the reference's. PROCS=2 runs every run as a 2-process MPI job
# (mpirun.mpich, --distributed) and kills the whole job. Writes one JSON line per trial and a summary page.
#   bash benchmarks/kill-resume.sh                  # 20 single-process trials
#   PROCS=2 TRIALS=20 bash benchmarks/kill-resume.sh
# Needs a Release build (bash test.sh builds one) and the MNIST files under $DIFFUSION_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${TRIALS:-20}
STEPS=${STEPS:-100}
PROCS=${PROCS:-1}
SEED=${SEED:-1}
work=${WORK:-$(mktemp -d /tmp/kill-resume.XXXXXX)}
results=${RESULTS:-benchmarks/results}
dll="$PWD/samples/Diffusion.Cli/bin/Release/net10.0/diffusion.dll"
[ -f "$dll" ] || { echo "error: $dll is missing; build first (bash test.sh or dotnet build -c Release)" >&2; exit 2; }
if [ "$PROCS" != 1 ] && ! command -v mpirun.mpich > /dev/null; then echo "error: PROCS=$PROCS needs mpirun.mpich (apt-get install mpich)" >&2; exit 2; fi
export DIFFUSION_DATA="${DIFFUSION_DATA:-$(cd .. && pwd)/shared/data}"
RANDOM=$SEED
files="model.safetensors ema.safetensors optimizer.safetensors"

# Starts a run in its own session (so a kill reaches every process of it); its process id goes to $pid.
start() {
  local out=$1
  if [ "$PROCS" = 1 ]; then
    setsid dotnet "$dll" train --preset tiny --steps "$STEPS" --batch 32 --out "$out" >> "$out.log" 2>&1 &
  else
    setsid mpirun.mpich -np "$PROCS" dotnet "$dll" train --preset tiny --steps "$STEPS" --batch 32 --out "$out" --distributed >> "$out.log" 2>&1 &
  fi
  pid=$!
}
running() { local state; state=$(ps -o stat= -p "$1" 2> /dev/null || true); [ -n "$state" ] && [ "${state:0:1}" != Z ]; }
hashes() { (cd "$1/checkpoints/latest" && sha256sum $files); }

mkdir -p "$work" "$results"
echo "work folder: $work ($PROCS process(es), $TRIALS trials, $STEPS steps)"
t0=$(date +%s.%N)
start "$work/reference"; wait "$pid"
reference_seconds=$(echo "$(date +%s.%N) - $t0" | bc)
hashes "$work/reference" > "$work/reference.sha256"
echo "reference: $STEPS steps in ${reference_seconds}s"

stamp=$(date -u +%Y%m%d-%H%M)
jsonl="$results/kill-resume-${PROCS}p-$stamp.jsonl"
: > "$jsonl"
identical=0; killed=0; attempts=0
while [ "$killed" -lt "$TRIALS" ]; do
  attempts=$((attempts + 1))
  run="$work/trial-$attempts"
  # A random moment between 1 s and the reference's duration, in milliseconds.
  span_ms=$(( $(printf '%.0f' "$(echo "$reference_seconds * 1000" | bc)") - 1000 ))
  delay_ms=$(( 1000 + (RANDOM * 32768 + RANDOM) % span_ms ))
  start "$run"
  sleep "$(echo "scale=3; $delay_ms / 1000" | bc)"
  if ! running "$pid"; then wait "$pid" || true; rm -rf "$run" "$run.log"; continue; fi  # finished first
  kill -9 -- "-$pid" 2> /dev/null || kill -9 "$pid"
  wait "$pid" 2> /dev/null || true
  pkill -9 -f -- "--out $run( |$)" 2> /dev/null || true
  killed=$((killed + 1))
  at_step=$(tail -n 1 "$run/metrics.jsonl" 2> /dev/null | sed -n 's/.*"step":\([0-9]*\).*/\1/p' || true)  # none yet: killed before the first log
  ckpt_step=$(sed -n 's/.*"step": *\([0-9]*\).*/\1/p' "$run/checkpoints/latest/state.json" 2> /dev/null | head -n 1 || true)
  start "$run"; wait "$pid" || { echo "trial $killed: the resumed run failed (see $run.log)" >&2; }
  if hashes "$run" 2> /dev/null | cmp -s - "$work/reference.sha256"; then same=true; identical=$((identical + 1)); else same=false; fi
  printf '{"trial":%d,"processes":%d,"killedAfterMs":%d,"lastLoggedStep":%s,"checkpointStepAtKill":%s,"identical":%s}\n' \
    "$killed" "$PROCS" "$delay_ms" "${at_step:-null}" "${ckpt_step:-null}" "$same" | tee -a "$jsonl"
  [ "$same" = true ] && rm -rf "$run" "$run.log"
done

md="$results/kill-resume-${PROCS}p-$stamp.md"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); flags=$(grep -o 'avx512_bf16\|amx_bf16' /proc/cpuinfo | sort -u | xargs)
{
  echo "# Kill-and-resume trials, $PROCS process(es)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $cpu${flags:+ ($flags)}. \`tiny\` preset, $STEPS steps, batch 32, seed 0;"
  echo "SIGKILL at a random moment (seeded $SEED) of the run, then resumed to step $STEPS. Uninterrupted reference: ${reference_seconds%.*} s."
  echo
  echo "**$identical of $killed** resumed runs ended with model, EMA and optimizer files byte-identical to the uninterrupted run's."
  echo
  echo "| trial | killed after (ms) | last logged step | checkpoint step at kill | identical |"
  echo "| ---: | ---: | ---: | ---: | :---: |"
  sed 's/.*"trial":\([0-9]*\).*"killedAfterMs":\([0-9]*\),"lastLoggedStep":\([^,]*\),"checkpointStepAtKill":\([^,]*\),"identical":\([a-z]*\).*/| \1 | \2 | \3 | \4 | \5 |/' "$jsonl"
} > "$md"
echo "$identical of $killed identical; $md"
[ "$identical" = "$killed" ]
