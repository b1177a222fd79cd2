"""Fast checks of the installer sources (no freezing here: that is ``make dist`` / ``dist-test``)."""

from __future__ import annotations

import ast
import configparser
import os
import re
import runpy
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INST = ROOT / "installers"
ICONS = ROOT / "assets" / "icons"
SIZES = (16, 32, 48, 64, 128, 256)
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">II", data[16:24])


# -- spec, hooks, entry points ---------------------------------------------------------------------
def test_spec_parses_and_names_both_executables_in_one_collect():
    tree = ast.parse((INST / "roomtone.spec").read_text(), filename="roomtone.spec")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    names = {}
    for c in calls:
        for kw in c.keywords:
            if kw.arg == "name" and isinstance(kw.value, ast.Constant):
                names.setdefault(c.func.id, []).append(kw.value.value)
    assert sorted(names["EXE"]) == ["roomtone", "roomtone-gui"]
    assert names["COLLECT"] == ["roomtone"]
    assert [c.func.id for c in calls].count("COLLECT") == 1
    assert [c.func.id for c in calls].count("Analysis") == 1


def test_spec_references_existing_files():
    text = (INST / "roomtone.spec").read_text()
    for rel in ("entry_cli.py", "entry_gui.py", "rthooks/rth_roomtone.py", "hooks"):
        assert rel.replace("/", '" / "') in text or rel in text, rel
        assert (INST / rel).exists(), rel
    # data the app reads at run time, at the path the code looks under sys._MEIPASS
    for dest in ('"assets/presets"', '"assets/demo"', '"assets"', '"assets/icons"'):
        assert dest in text, dest
    assert (ROOT / "assets" / "models.sha256").is_file()
    assert list((ROOT / "assets" / "presets").glob("*.toml"))


@pytest.mark.parametrize("path", sorted((ROOT / "installers").rglob("*.py")), ids=lambda p: p.name)
def test_installer_python_files_compile(path):
    compile(path.read_text(), str(path), "exec")


def test_hook_names_match_import_names():
    """A hook only runs when its file name is ``hook-<import name>.py`` of a module the app imports."""
    import importlib.util

    for hook in (INST / "hooks").glob("hook-*.py"):
        module = hook.stem[len("hook-") :]
        assert importlib.util.find_spec(module) is not None, (
            f"{hook.name}: no module {module!r} installed"
        )


def test_entry_points_call_the_real_entry_functions():
    cli = (INST / "entry_cli.py").read_text()
    gui = (INST / "entry_gui.py").read_text()
    assert "from app.cli import main" in cli and "freeze_support()" in cli
    assert "from app.qt.app import run" in gui and "freeze_support()" in gui
    from app.cli import main  # noqa: F401 - the names exist

    assert "def run(" in (ROOT / "app" / "qt" / "app.py").read_text()


def test_runtime_hook_sets_the_same_numba_cache_folder_as_dsp_jit(monkeypatch, tmp_path):
    from dsp.jit import default_cache_dir

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path))
    runpy.run_path(str(INST / "rthooks" / "rth_roomtone.py"))
    assert os.environ["NUMBA_CACHE_DIR"] == str(default_cache_dir())
    assert (
        "QT_QPA_PLATFORM" not in (INST / "rthooks" / "rth_roomtone.py").read_text().split('"""')[-1]
    )


def test_runtime_hook_gives_each_frozen_executable_its_own_numba_cache(monkeypatch, tmp_path):
    """Frozen numba stamps cache entries with sys.executable: CLI and GUI must not share a folder."""
    import sys

    from dsp.jit import default_cache_dir

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "app" / "roomtone-gui"))
    runpy.run_path(str(INST / "rthooks" / "rth_roomtone.py"))
    assert os.environ["NUMBA_CACHE_DIR"] == str(default_cache_dir() / "roomtone-gui")


def test_runtime_hook_keeps_a_user_numba_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    runpy.run_path(str(INST / "rthooks" / "rth_roomtone.py"))
    assert os.environ["NUMBA_CACHE_DIR"] == str(tmp_path / "mine")


def test_build_script_is_valid_bash():
    proc = subprocess.run(["bash", "-n", str(INST / "build.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# -- Linux desktop integration --------------------------------------------------------------------
def _desktop_entry() -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    cp.read_string((INST / "linux" / "roomtone.desktop").read_text(encoding="utf-8"))
    assert cp.sections() == ["Desktop Entry"]
    return cp["Desktop Entry"]


def test_desktop_entry_has_valid_keys():
    entry = _desktop_entry()
    for key in ("Type", "Name", "Exec", "Icon", "Categories", "MimeType", "Comment", "Terminal"):
        assert key in entry, key
    assert entry["Type"] == "Application"
    assert entry["Terminal"] == "false"
    assert entry["Icon"] == "roomtone"
    assert re.fullmatch(r"roomtone-gui %[fFuU]", entry["Exec"])
    known = {
        "Type",
        "Version",
        "Name",
        "GenericName",
        "NoDisplay",
        "Comment",
        "Icon",
        "Hidden",
        "OnlyShowIn",
        "NotShowIn",
        "DBusActivatable",
        "TryExec",
        "Exec",
        "Path",
        "Terminal",
        "Actions",
        "MimeType",
        "Categories",
        "Implements",
        "Keywords",
        "StartupNotify",
        "StartupWMClass",
        "URL",
        "PrefersNonDefaultGPU",
        "SingleMainWindow",
    }
    assert set(entry) <= known, set(entry) - known
    for key in ("Categories", "MimeType", "Keywords"):
        assert entry[key].endswith(";"), f"{key} list must end with ';'"
    assert "AudioVideo" in entry["Categories"].split(";")


def test_desktop_mime_types_include_the_project_type():
    mimes = _desktop_entry()["MimeType"].split(";")
    assert "application/x-roomtone-project" in mimes


def test_mime_xml_is_well_formed_and_matches_the_project_suffix():
    from app.session.project import PROJECT_FORMAT, PROJECT_SUFFIX

    root = ET.parse(INST / "linux" / "roomtone-mime.xml").getroot()
    assert root.tag == f"{MIME_NS}mime-info"
    types = root.findall(f"{MIME_NS}mime-type")
    assert [t.get("type") for t in types] == ["application/x-roomtone-project"]
    globs = [g.get("pattern") for g in types[0].findall(f"{MIME_NS}glob")]
    assert globs == [f"*{PROJECT_SUFFIX}"]
    magic = types[0].find(f"{MIME_NS}magic/{MIME_NS}match")
    assert magic is not None and PROJECT_FORMAT in magic.get("value")


def test_install_script_is_valid_sh_and_knows_its_files():
    script = INST / "linux" / "install.sh"
    proc = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = script.read_text()
    for needed in ("roomtone.desktop", "roomtone-mime.xml", "--uninstall", "--in-place", "hicolor"):
        assert needed in text, needed
    assert os.access(script, os.X_OK)
    for size in SIZES:
        assert str(size) in re.search(r'SIZES="([^"]+)"', text).group(1).split()


def test_install_script_in_place_and_uninstall(tmp_path):
    """Run install.sh against a fake app folder and HOME: files land where desktops look."""
    app = tmp_path / "app"
    (app / "_internal" / "assets" / "icons").mkdir(parents=True)
    for exe in ("roomtone", "roomtone-gui"):
        (app / exe).write_text("#!/bin/sh\n")
        (app / exe).chmod(0o755)
    for size in SIZES:
        (app / "_internal" / "assets" / "icons" / f"roomtone-{size}.png").write_bytes(
            (ICONS / f"roomtone-{size}.png").read_bytes()
        )
    (app / "_internal" / "assets" / "icons" / "roomtone.svg").write_bytes(
        (ICONS / "roomtone.svg").read_bytes()
    )
    for name in ("install.sh", "roomtone.desktop", "roomtone-mime.xml"):
        (app / name).write_bytes((INST / "linux" / name).read_bytes())
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        ["sh", str(app / "install.sh"), "--in-place"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    data = home / ".local" / "share"
    desktop = (data / "applications" / "roomtone.desktop").read_text()
    assert f'Exec="{app}/roomtone-gui" %f' in desktop
    assert (data / "mime" / "packages" / "roomtone.xml").is_file()
    for size in SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / "roomtone.png").is_file()
    assert (home / ".local" / "bin" / "roomtone").resolve() == (app / "roomtone").resolve()
    proc = subprocess.run(
        ["sh", str(app / "install.sh"), "--uninstall"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert not (data / "applications" / "roomtone.desktop").exists()
    assert not (home / ".local" / "bin" / "roomtone").is_symlink()
    assert (app / "roomtone").is_file(), "--uninstall must not delete an in-place app"


# -- icons ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
def test_icon_png_at_every_size(size):
    path = ICONS / f"roomtone-{size}.png"
    assert path.is_file(), f"{path} missing: run .venv/bin/python installers/make_icons.py"
    assert _png_size(path) == (size, size)


def test_icon_svg_source_is_well_formed():
    root = ET.parse(ICONS / "roomtone.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 256 256"
