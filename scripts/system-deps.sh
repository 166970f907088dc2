#!/usr/bin/env bash
# The system tools mnistedge's edge targets need, installed where this machine allows it.
#
#   browser target:    chromium, nodejs, npm (npm fetches onnxruntime-web and LiteRT.js once)
#   C target:          gcc, libc6-dev (the host build of the generated C)
#   Cortex-M4 target:  gcc-arm-none-eabi, libnewlib-arm-none-eabi, qemu-system-arm
#
# On Debian/Ubuntu, as root or with password-less sudo: one `apt-get update`, then
# `apt-get install --no-install-recommends` of only what is missing. Elsewhere it prints what to
# install. It never fails the caller: a target whose tools are missing is skipped by the tests
# and the bench, each saying why. Set MNISTEDGE_SKIP_SYSTEM_DEPS=1 to do nothing.
set -u

[ "${MNISTEDGE_SKIP_SYSTEM_DEPS:-0}" = "1" ] && { echo "system-deps: skipped (MNISTEDGE_SKIP_SYSTEM_DEPS=1)"; exit 0; }

have() { command -v "$1" >/dev/null 2>&1; }
missing=()
have chromium || have chromium-browser || have google-chrome || missing+=(chromium)
have node || missing+=(nodejs)
have npm || missing+=(npm)
have gcc || missing+=(gcc)
[ -f /usr/include/stdio.h ] || missing+=(libc6-dev)  # a Recommends of gcc: --no-install-recommends skips it
have arm-none-eabi-gcc || missing+=(gcc-arm-none-eabi)
[ -d /usr/lib/arm-none-eabi/newlib ] || missing+=(libnewlib-arm-none-eabi)
have qemu-system-arm || missing+=(qemu-system-arm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system-deps: chromium, node, npm, gcc, libc6-dev, arm-none-eabi-gcc, newlib, qemu-system-arm all present"
  exit 0
fi

if ! have apt-get; then
  echo "system-deps: not a Debian/Ubuntu system; install these yourself to enable every target: ${missing[*]}" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif have sudo && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "system-deps: need root or password-less sudo to run: apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 0
fi

echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -qq; then
  echo "system-deps: apt-get update failed; the targets that need ${missing[*]} will be skipped" >&2
  exit 0
fi
log=$(mktemp)
if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "system-deps: apt-get install failed; the targets that need ${missing[*]} will be skipped" >&2
  rm -f "$log"
  exit 0
fi
rm -f "$log"
echo "system-deps: installed ${missing[*]}"
