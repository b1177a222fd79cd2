"""Layers run one way: dsp knows no GUI, devices, models or app; the CLI knows no Qt.

Each check imports in a fresh interpreter and inspects ``sys.modules``; a static check scans
the source tree for Qt imports outside ``app/qt/``.
"""

from __future__ import annotations

import ast
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
QT = ("PySide6", "pyqtgraph")
HEAVY = QT + ("torch", "sounddevice")


def _loaded_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


def _dsp_modules() -> list[str]:
    import dsp

    return ["dsp"] + [f"dsp.{m.name}" for m in pkgutil.iter_modules(dsp.__path__)]


@pytest.mark.slow
def test_dsp_loads_no_gui_device_model_or_app():
    mods = _dsp_modules()
    assert "dsp.io" in mods and "dsp.stft" in mods
    loaded = _loaded_after("\n".join(f"import {m}" for m in mods) + "\nimport dsp.chain; dsp.chain.registry()")
    bad = loaded & set(HEAVY + ("app", "models"))
    assert not bad, f"importing dsp loaded {sorted(bad)}"


@pytest.mark.slow
def test_cli_loads_no_qt(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(str(wav), np.zeros(4800, np.float32), 48000)
    loaded = _loaded_after(
        f"from app.cli import main\nimport contextlib, io\n"
        f"with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['info', {str(wav)!r}]) == 0\n"
    )
    bad = loaded & set(QT)
    assert not bad, f"the CLI loaded {sorted(bad)}"
    assert "numba" in loaded or "dsp" in loaded  # the probe really ran the command


@pytest.mark.slow
def test_models_import_no_torch_at_import_time():
    import models

    mods = ["models"] + [f"models.{m.name}" for m in pkgutil.iter_modules(models.__path__)]
    loaded = _loaded_after("\n".join(f"import {m}" for m in mods))
    bad = loaded & {"torch", *QT, "app"}
    assert not bad, f"importing models loaded {sorted(bad)}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


# The installed packages and the benchmarks. scripts/ holds developer tools (e.g. GUI screenshot
# scripts) that may drive the Qt app; tests/app/qt tests it: neither is a module of the product.
# Benchmarks of the GUI itself are named here, one by one, so a new Qt import elsewhere still fails.
GUI_BENCHMARKS = {"bench/bench_gui.py", "bench/soak_monitor.py"}


@pytest.mark.parametrize("package", ["dsp", "models", "app", "bench"])
def test_no_qt_imports_outside_app_qt(package):
    root = REPO / package
    if not root.is_dir():
        pytest.skip(f"no {package}/")
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[:2] == ("app", "qt") or str(rel) in GUI_BENCHMARKS:
            continue
        if _imports(path) & set(QT):
            offenders.append(str(rel))
    assert not offenders, f"Qt imported outside app/qt/: {offenders}"


def test_dsp_imports_only_its_allowed_packages():
    allowed = {"numpy", "scipy", "numba", "soundfile", "dsp", "__future__"} | set(sys.stdlib_module_names)
    offenders = {}
    for path in (REPO / "dsp").rglob("*.py"):
        extra = _imports(path) - allowed
        if extra:
            offenders[str(path.relative_to(REPO))] = sorted(extra)
    assert not offenders, f"dsp imports outside numpy/scipy/numba/soundfile: {offenders}"


#: What the workstation's widgets may not do themselves: render, or write audio or files. They ask
#: app.session / app.pipeline (issue 20: "app.qt renders nothing itself").
QT_FORBIDDEN = {
    "dsp.render": None,  # the whole module
    "dsp.io": {"AtomicWriter", "write_audio", "write_text_atomic", "stage_text", "make_temp"},
}


def test_the_workstation_renders_and_writes_nothing_itself():
    offenders = []
    for path in (REPO / "app" / "qt").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in QT_FORBIDDEN:
                names = QT_FORBIDDEN[node.module]
                bad = [a.name for a in node.names if names is None or a.name in names]
                if bad:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {node.module}: {bad}")
            elif isinstance(node, ast.Import) and any(a.name == "dsp.render" for a in node.names):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} dsp.render")
    assert not offenders, f"app/qt renders or writes by itself: {offenders}"


#: What belongs to the app and not to the DSP core (issue 20): home folders, the frozen app's
#: bundle, preset files and command-line syntax.
DSP_FORBIDDEN_TEXT = ("_MEIPASS", "Path.home", "XDG_", "APPDATA", "tomllib", "--set")
#: dsp/jit.py may name the user cache folder: numba reads NUMBA_CACHE_DIR when it is imported,
#: which is when dsp is, before any app code could set it (a read-only install needs it).
DSP_FOLDER_EXCEPTIONS = {"dsp/jit.py": {"Path.home", "XDG_", "APPDATA"}}


def test_dsp_knows_no_home_folders_preset_files_or_cli_flags():
    offenders = []
    for path in (REPO / "dsp").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(REPO).as_posix()
        allowed = DSP_FOLDER_EXCEPTIONS.get(rel, set())
        offenders += [f"{rel}: {word}" for word in DSP_FORBIDDEN_TEXT if word in text and word not in allowed]
    assert not offenders, f"dsp holds app-layer knowledge: {offenders}"


#: Background work in the workstation runs on app.session.jobs.JobRunner (issue 20): no widget
#: starts threads or pools of its own.
QT_THREADING = ("ThreadPoolExecutor", "ProcessPoolExecutor", "threading.Thread", "QThread(")


def test_the_workstation_starts_no_threads_of_its_own():
    offenders = []
    for path in (REPO / "app" / "qt").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(REPO)}: {word}" for word in QT_THREADING if word in text]
    assert not offenders, f"app/qt runs background work outside app.session.jobs: {offenders}"
