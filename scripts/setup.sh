#!/usr/bin/env bash
# Sets up Roomtone on a fresh Debian 12 machine: system packages (when root; otherwise prints the
# exact apt line and stops), a .venv with torch==2.13.0 first (the CPU build), then the project
# with its dev extras. Idempotent: a stamp file records what was installed for which pyproject.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
# Runtime (sounddevice's PortAudio, Qt's xcb plugin), tests (JACK dummy sound card, Xvfb),
# demo generation (espeak-ng), benchmarks (sox, ffmpeg).
APT_PACKAGES="libportaudio2 jackd2 xvfb xauth espeak-ng sox ffmpeg libglib2.0-0 libgl1 libegl1 \
libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-shape0 \
libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-xinerama0"

missing=()
for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ]; then
        echo "setup: installing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # jackd2 asks whether to enable real-time priority; answer no.
        echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: these system packages are missing: ${missing[*]}" >&2
        echo "setup: run this as root, then run make again:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
fi

"$PY" - <<'PYEOF' || { echo "setup: Roomtone needs Python 3.11 or newer (found $($PY --version 2>&1))." >&2; exit 1; }
import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)
PYEOF

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PY" -m venv "$VENV"
fi
stamp="$VENV/.roomtone-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha1sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch FIRST: a CPU build lies on this machine's disk; an unpinned torch pulls a multi-GB CUDA build.
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[dev]"
echo "$want" > "$stamp"
echo "setup: done ($VENV)"
