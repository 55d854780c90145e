#!/usr/bin/env bash
# Makes TorchSharp's native library load on Linux distributions whose libstdc++ predates GCC 13 (Debian 12, Ubuntu 22.04).
#
#   bash scripts/torchsharp-compat.sh              patch the NuGet package folder's copy and the copies under this repository
#   bash scripts/torchsharp-compat.sh DIR...       the NuGet package folder's copy and those under DIR... instead of the repository
#   bash scripts/torchsharp-compat.sh --if-needed  the same, but first a quick ldd check; silent when nothing needs it
#                                                  (what scripts/prepare.sh runs)
#
# TorchSharp 0.107's libLibTorchSharp.so requires symbol version GLIBCXX_3.4.32 from libstdc++.so.6, which only GCC 13's
# libstdc++ defines, so the dynamic loader refuses the library. The version is there for a single symbol,
# std::ios_base_library_init(), which GCC 13's <iostream> references so that the link records the version; no relocation
# uses it. scripts/ElfCompat.cs marks that requirement weak (one flag in .gnu.version_r), after checking that no relocation
# needs a symbol of the missing version; the loader then accepts the library. Nothing is done when the system libstdc++
# defines GLIBCXX_3.4.32. Patched files are rewritten atomically (temporary file, rename); patching twice changes nothing.
# No root needed: the NuGet package folder ($NUGET_PACKAGES, else ~/.nuget/packages) and bin/ are the user's files.
set -euo pipefail
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
version=GLIBCXX_3.4.32
say() { echo "torchsharp-compat: $*"; }

quick=0
if [ "${1:-}" = --if-needed ]; then quick=1; shift; fi
if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
  [ "$quick" = 1 ] || say "not x86-64 Linux; nothing to do"
  exit 0
fi

roots=("${NUGET_PACKAGES:-$HOME/.nuget/packages}/torchsharp")
if [ $# -gt 0 ]; then roots+=("$@"); else roots+=("$repo"); fi
mapfile -t libs < <(for r in "${roots[@]}"; do [ -e "$r" ] && find "$r" -name .git -prune -o -name libLibTorchSharp.so -type f -print; done | sort -u)

if [ "$quick" = 1 ] && command -v ldd >/dev/null; then
  # ldd reports "libstdc++.so.6: version `GLIBCXX_…' not found" for a library the loader refuses (a weakened requirement
  # reads "weak version … not found" and loads). Without restored libraries, or when they all load, there is nothing to do.
  needed=0
  for lib in "${libs[@]}"; do
    out=$(ldd "$lib" 2>&1 || true) # not piped into grep -q: with pipefail, ldd's SIGPIPE would hide a match
    if [[ "$out" == *'libstdc++.so.6: version `'* ]]; then needed=1; break; fi
  done
  [ "$needed" = 1 ] || exit 0
fi

# The libstdc++ the dynamic loader picks.
libstdcxx=$({ ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true; } | awk '$1 == "libstdc++.so.6" && /x86-64/ && !found { print $NF; found = 1 }')
if [ -z "$libstdcxx" ]; then
  for candidate in /usr/lib/x86_64-linux-gnu/libstdc++.so.6 /lib/x86_64-linux-gnu/libstdc++.so.6 /usr/lib64/libstdc++.so.6; do
    if [ -e "$candidate" ]; then libstdcxx=$candidate; break; fi
  done
fi
[ -n "$libstdcxx" ] || { say "error: libstdc++.so.6 not found (install libstdc++6)" >&2; exit 1; }

elfcompat() { dotnet run "$here/ElfCompat.cs" -- "$@"; }
if elfcompat defines "$libstdcxx" "$version"; then
  say "$libstdcxx defines $version; nothing to do"
  exit 0
fi
if [ ${#libs[@]} -eq 0 ]; then
  say "$libstdcxx lacks $version, but no libLibTorchSharp.so under ${roots[*]}; run 'dotnet restore' first"
  exit 0
fi

say "$libstdcxx lacks $version; checking ${#libs[@]} libLibTorchSharp.so file(s)"
# Run as root on someone else's files (sudo), the rewritten files keep their owner.
owners=()
if [ "$(id -u)" = 0 ]; then for lib in "${libs[@]}"; do owners+=("$(stat -c '%u:%g' "$lib")"); done; fi
status=0
elfcompat patch "$libstdcxx" "${libs[@]}" 2>&1 | sed 's/^/torchsharp-compat: /' || status=$?
if [ ${#owners[@]} -gt 0 ]; then
  for i in "${!libs[@]}"; do chown "${owners[$i]}" "${libs[$i]}" 2>/dev/null || true; done
fi
if [ "$status" != 0 ]; then
  say "error: not every file could be patched (see above); a file owned by another user needs that user (or sudo)" >&2
  exit "$status"
fi
