#!/usr/bin/env bash
# Proves scripts/torchsharp-compat.sh on a fresh NuGet package folder: restores and builds a tiny TorchSharp probe into a
# temporary folder (its own NUGET_PACKAGES), then
#   - where the system libstdc++ lacks GLIBCXX_3.4.32: the probe fails to load the native library; the compat step patches
#     the restored library and the probe's bin copy (one byte each); the probe then loads it and computes with torch; a
#     second run changes nothing (same bytes, same file);
#   - elsewhere: the probe loads the library as restored, and the compat step does nothing.
# Removes the temporary folder (about 2 GB) at the end. Needs the NuGet feed (or its local cache); prints the time per step.
#   bash scripts/check-compat-fresh-cache.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
version=$(sed -n 's:.*<TorchSharpVersion>\(.*\)</TorchSharpVersion>.*:\1:p' Directory.Build.props)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/diffusion-compat-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export NUGET_PACKAGES="$tmp/packages"
fail() { echo "check-compat: FAILED: $*" >&2; exit 1; }
step_start=$(date +%s%N)
step() { local now; now=$(date +%s%N); printf 'check-compat: %-48s %5d.%d s\n' "$1" $(((now - step_start) / 1000000000)) $(((now - step_start) / 100000000 % 10)); step_start=$now; }

mkdir -p "$tmp/probe"
cat > "$tmp/probe/Probe.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
    <CreateHardLinksForCopyLocalIfPossible>true</CreateHardLinksForCopyLocalIfPossible>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="TorchSharp-cpu" Version="$version" />
  </ItemGroup>
</Project>
EOF
# Loads the native library first (one line on failure: TorchSharp itself prints a long trace and aborts), then uses torch.
cat > "$tmp/probe/Program.cs" <<'EOF'
using System.Runtime.InteropServices;
var lib = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
try { NativeLibrary.Load(lib); }
catch (DllNotFoundException e)
{
    Console.WriteLine($"probe: load failed: {e.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last().Trim()}");
    return 1;
}
Console.WriteLine($"probe: loaded; torch.arange(5).sum() = {TorchSharp.torch.arange(5).sum().item<long>()}");
return 0;
EOF

dotnet restore "$tmp/probe" --verbosity quiet
step "restore TorchSharp-cpu $version (fresh cache)"
dotnet build "$tmp/probe" -c Release --no-restore --verbosity quiet -o "$tmp/probe/out" > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "probe build"; }
step "build the probe"

cached=$(find "$NUGET_PACKAGES/torchsharp" -name libLibTorchSharp.so -type f)
copy="$tmp/probe/out/runtimes/linux-x64/native/libLibTorchSharp.so"
[ -f "$cached" ] && [ -f "$copy" ] || fail "libLibTorchSharp.so not restored/copied"
probe() { dotnet "$tmp/probe/out/Probe.dll"; }

ldd_out=$(ldd "$cached" 2>&1 || true)
if [[ "$ldd_out" == *"libstdc++.so.6: version \`GLIBCXX_3.4.32' not found"* ]]; then
  echo "check-compat: this system's libstdc++ lacks GLIBCXX_3.4.32: the restored library must fail, then load after the patch"
  cp "$cached" "$tmp/original.so"
  if out=$(probe); then fail "the unpatched library loaded: $out"; fi
  echo "$out"; [[ "$out" == *"GLIBCXX_3.4.32' not found"* ]] || fail "unexpected load error"
  step "probe before the patch (fails, as expected)"

  bash scripts/torchsharp-compat.sh --if-needed "$tmp/probe" | tee "$tmp/patch.log"
  [ "$(grep -c '^torchsharp-compat: patched: ' "$tmp/patch.log")" = 2 ] || fail "expected the cached library and the probe's copy to be patched"
  step "compat step (--if-needed, as prepare.sh runs it)"
  for f in "$cached" "$copy"; do
    diff=$(cmp -l "$tmp/original.so" "$f" || true)
    echo "check-compat: bytes changed in ${f#"$tmp"/}: $(echo "$diff" | awk '{ printf "offset 0x%x: %s -> %s (octal)", $1 - 1, $2, $3 }')"
    [ "$(echo "$diff" | wc -l)" = 1 ] || fail "expected exactly one changed byte in $f"
  done

  out=$(probe) || fail "the patched library did not load: $out"
  echo "$out"
  step "probe after the patch (loads)"

  before=$(stat -c '%i %Y' "$cached" "$copy"; sha256sum "$cached" "$copy")
  bash scripts/torchsharp-compat.sh "$tmp/probe" | tee "$tmp/again.log"
  grep -q '^torchsharp-compat: 0 file(s) patched, 2 already loadable, 0 failed$' "$tmp/again.log" || fail "second run was not a no-op"
  [ "$(stat -c '%i %Y' "$cached" "$copy"; sha256sum "$cached" "$copy")" = "$before" ] || fail "second run changed a file"
  [ -z "$(bash scripts/torchsharp-compat.sh --if-needed "$tmp/probe")" ] || fail "--if-needed was not silent after the patch"
  step "second run: no change (same inode, mtime, bytes)"
else
  echo "check-compat: this system's libstdc++ has GLIBCXX_3.4.32 (or the library does not need it): it must load as restored"
  out=$(probe) || fail "the library did not load: $out"
  echo "$out"
  before=$(sha256sum "$cached" "$copy")
  bash scripts/torchsharp-compat.sh "$tmp/probe"
  [ "$(sha256sum "$cached" "$copy")" = "$before" ] || fail "the compat step changed a file"
  [ -z "$(bash scripts/torchsharp-compat.sh --if-needed "$tmp/probe")" ] || fail "--if-needed was not silent"
  step "probe and compat step (nothing to do)"
fi
echo "check-compat: OK"
