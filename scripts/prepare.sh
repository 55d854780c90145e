# Sourced by run.sh and test.sh: restores packages, makes TorchSharp's native library loadable, sets the data path.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if [ -z "${DIFFUSION_DATA:-}" ]; then
  if [ -d ../shared/data ]; then export DIFFUSION_DATA="$(cd ../shared/data && pwd)"; else export DIFFUSION_DATA="$PWD/data"; fi
fi
echo "datasets: $DIFFUSION_DATA"
dotnet restore Diffusion.sln --verbosity quiet
# TorchSharp 0.107's native library needs GLIBCXX_3.4.32 (GCC 13's libstdc++), which Debian 12 and Ubuntu 22.04 lack.
# A quick ldd check of the restored library and its copies in bin/; only when the loader refuses them for that are they
# patched, once (see README, "Older Linux distributions"). On newer distributions this does nothing.
bash "$(dirname "${BASH_SOURCE[0]}")/torchsharp-compat.sh" --if-needed
