# Sourced by run.sh and test.sh: restores packages, makes TorchSharp's native library loadable, sets the data path.
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if [ -z "${DIFFUSION_DATA:-}" ]; then
  if [ -d ../shared/data ]; then export DIFFUSION_DATA="$(cd ../shared/data && pwd)"; else export DIFFUSION_DATA="$PWD/data"; fi
fi
echo "datasets: $DIFFUSION_DATA"
dotnet restore Diffusion.sln --verbosity quiet
# TorchSharp 0.107 needs GLIBCXX_3.4.32 (GCC 13's libstdc++). On Debian 12 / Ubuntu 22.04 the shared compat
# script patches the restored native library once (see README, "Older Linux distributions").
if [ -f ../shared/tools/torchsharp-compat.sh ]; then
  if [ "$(id -u)" = 0 ]; then bash ../shared/tools/torchsharp-compat.sh; else sudo bash ../shared/tools/torchsharp-compat.sh; fi
fi
