#!/bin/sh
# Install a Roomtone tarball for the current user: app folder, launchers, menu entry, icons and
# the project-file MIME type (*.roomtone, application/x-roomtone-project). No root needed.
#
#   ./install.sh [--prefix DIR] [--in-place] [--uninstall] [--no-copy-check]
#
# --prefix DIR   where the app folder goes (default ~/.local/opt/roomtone)
# --in-place     do not copy: register the folder this script is in
# --uninstall    remove the menu entry, icons, MIME type, launchers (and the copied folder)
# Honours XDG_DATA_HOME (default ~/.local/share); launchers go to ~/.local/bin.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
BIN=$HOME/.local/bin
PREFIX=$HOME/.local/opt/roomtone
MODE=copy
SIZES="16 32 48 64 128 256"

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=${2:?--prefix needs a folder}; shift 2 ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        --in-place) MODE=inplace; shift ;;
        --uninstall) MODE=uninstall; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option '$1' (see ./install.sh --help)" >&2; exit 2 ;;
    esac
done

refresh() {
    command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$DATA/mime" >/dev/null 2>&1 || true
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$DATA/applications" >/dev/null 2>&1 || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" >/dev/null 2>&1 || true
}

if [ "$MODE" = uninstall ]; then
    rm -f "$DATA/applications/roomtone.desktop" "$DATA/mime/packages/roomtone.xml" \
          "$DATA/icons/hicolor/scalable/apps/roomtone.svg"
    for s in $SIZES; do rm -f "$DATA/icons/hicolor/${s}x${s}/apps/roomtone.png"; done
    for exe in roomtone roomtone-gui; do
        if [ -L "$BIN/$exe" ]; then rm -f "$BIN/$exe"; fi
    done
    if [ -f "$PREFIX/roomtone-gui" ] && [ -d "$PREFIX/_internal" ]; then rm -rf "$PREFIX"; fi
    refresh
    echo "install.sh: Roomtone removed (your projects, presets and ~/.cache/roomtone were left alone)"
    exit 0
fi

if [ ! -x "$HERE/roomtone-gui" ] || [ ! -d "$HERE/_internal" ]; then
    echo "install.sh: run me from the unpacked Roomtone folder (no roomtone-gui next to me in $HERE)" >&2
    exit 1
fi

if [ "$MODE" = copy ]; then
    if [ "$HERE" != "$PREFIX" ]; then
        mkdir -p "$(dirname "$PREFIX")"
        rm -rf "$PREFIX.new"
        cp -a "$HERE" "$PREFIX.new"
        rm -rf "$PREFIX"
        mv "$PREFIX.new" "$PREFIX"
    fi
    APP=$PREFIX
else
    APP=$HERE
fi

ICONS="$APP/_internal/assets/icons"
mkdir -p "$BIN" "$DATA/applications" "$DATA/mime/packages" "$DATA/icons/hicolor/scalable/apps"
ln -sf "$APP/roomtone" "$BIN/roomtone"
ln -sf "$APP/roomtone-gui" "$BIN/roomtone-gui"
for s in $SIZES; do
    mkdir -p "$DATA/icons/hicolor/${s}x${s}/apps"
    cp "$ICONS/roomtone-$s.png" "$DATA/icons/hicolor/${s}x${s}/apps/roomtone.png"
done
cp "$ICONS/roomtone.svg" "$DATA/icons/hicolor/scalable/apps/roomtone.svg"
cp "$APP/roomtone-mime.xml" "$DATA/mime/packages/roomtone.xml"
# absolute paths: the menu entry works even when ~/.local/bin is not on PATH
sed -e "s|^Exec=roomtone-gui|Exec=\"$APP/roomtone-gui\"|" -e "s|^TryExec=roomtone-gui|TryExec=$APP/roomtone-gui|" \
    "$APP/roomtone.desktop" > "$DATA/applications/roomtone.desktop"
chmod 0644 "$DATA/applications/roomtone.desktop"
refresh

echo "install.sh: Roomtone installed in $APP"
echo "  menu entry: $DATA/applications/roomtone.desktop"
echo "  launchers:  $BIN/roomtone, $BIN/roomtone-gui"
case ":$PATH:" in
    *":$BIN:"*) ;;
    *) echo "  note: $BIN is not on your PATH; add it to use 'roomtone' in a terminal" ;;
esac
