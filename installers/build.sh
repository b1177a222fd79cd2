#!/usr/bin/env bash
# Build the frozen Roomtone (PyInstaller onedir: roomtone + roomtone-gui) and, on Linux, the
# tarball dist/roomtone-<version>-linux-<arch>.tar.gz with desktop integration.
#
#   bash installers/build.sh            build + tarball (make dist)
#   ROOMTONE_FREEZE_TORCH=1 bash ...    also freeze torch (not needed; roughly +0.7 GB)
#   PYTHON=/path/to/python bash ...     another interpreter (default: .venv/bin/python)
#
# Output: dist/roomtone/ (the app folder), dist/roomtone-<version>-linux-<arch>.tar.gz,
# dist/size-report.txt. Work files in build/pyinstaller/. Needs pyinstaller==6.22.* in the venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
if [[ "$(uname -s)" == MINGW* || "$(uname -s)" == MSYS* || "$(uname -s)" == CYGWIN* ]]; then
    PY="${PYTHON:-$ROOT/.venv/Scripts/python.exe}"
fi

if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: PyInstaller is not installed in $PY; run: $PY -m pip install 'pyinstaller==6.22.*'" >&2
    exit 1
fi
VERSION="$("$PY" -c 'import re,sys; print(re.search(r"__version__\s*=\s*\"([^\"]+)\"", open("dsp/__init__.py").read()).group(1))')"
for f in assets/models.sha256 assets/demo/demo_episode.flac assets/icons/roomtone-256.png; do
    if [[ ! -f "$f" ]]; then
        echo "build.sh: $f is missing (demo: $PY scripts/make_demo.py; icons: $PY installers/make_icons.py)" >&2
        exit 1
    fi
done

echo "build.sh: freezing Roomtone $VERSION with $("$PY" -m PyInstaller --version) ..."
start=$(date +%s)
# numba compiles nothing at build time; keep the build's own cache out of the user's home
export NUMBA_CACHE_DIR="$ROOT/build/numba-cache"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
    "$ROOT/installers/roomtone.spec"
echo "build.sh: PyInstaller took $(( $(date +%s) - start )) s"

APP="$ROOT/dist/roomtone"
INTERNAL="$APP/_internal"
[[ -d "$INTERNAL" ]] || INTERNAL="$APP"
# Our packages are shipped as .py (numba needs the files); precompile them with the frozen
# interpreter's own version so start-up does not compile them (and works on a read-only install).
"$PY" -m compileall -q -j 0 --invalidation-mode checked-hash "$INTERNAL/app" "$INTERNAL/dsp" "$INTERNAL/models"
if [[ "$(uname -s)" == Linux ]] && command -v strip >/dev/null; then
    # llvmlite's wheel ships LLVM with its full symbol table (about 19 MB): not needed to run
    for lib in "$INTERNAL"/llvmlite/binding/libllvmlite*.so; do
        [[ -f "$lib" ]] && strip --strip-unneeded "$lib"
    done
fi
case "$(uname -s)" in
Linux)
    # desktop integration travels inside the app folder
    install -m 0755 installers/linux/install.sh "$APP/install.sh"
    install -m 0644 installers/linux/roomtone.desktop "$APP/roomtone.desktop"
    install -m 0644 installers/linux/roomtone-mime.xml "$APP/roomtone-mime.xml"
    install -m 0644 installers/linux/INSTALL.txt "$APP/INSTALL.txt"
    ARCH="$(uname -m)"
    NAME="roomtone-$VERSION-linux-$ARCH"
    TARBALL="$ROOT/dist/$NAME.tar.gz"
    rm -f "$TARBALL"
    echo "build.sh: packing $TARBALL ..."
    tar -C "$ROOT/dist" --owner=0 --group=0 --numeric-owner --transform "s,^roomtone,$NAME," \
        -czf "$TARBALL" roomtone
    ;;
Darwin)
    echo "build.sh: macOS app bundle: dist/Roomtone.app (sign and notarise it before shipping; see installers/README.md)"
    ;;
*)
    echo "build.sh: Windows app folder: dist/roomtone (see installers/README.md for the installer step)"
    ;;
esac

# size report: total, biggest folders and files
{
    echo "Roomtone $VERSION frozen app: $(du -sh "$APP" | cut -f1) in $APP"
    [[ -n "${TARBALL:-}" ]] && echo "tarball: $(du -h "$TARBALL" | cut -f1) $TARBALL"
    echo
    echo "biggest folders (MB):"
    du -m --max-depth=2 "$APP/_internal" 2>/dev/null | sort -rn | head -20 | sed "s,$APP/,,"
    echo
    echo "biggest files (MB):"
    find "$APP" -type f -size +2M -printf '%s %P\n' | sort -rn | head -20 | awk '{printf "%7.1f %s\n", $1/1048576, $2}'
} | tee "$ROOT/dist/size-report.txt"
echo "build.sh: done in $(( $(date +%s) - start )) s"
