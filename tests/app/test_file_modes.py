"""Every file Roomtone writes gets the umask's mode (issue 19, item 15) and leaves no temporary file.

Text files used to go through ``mkstemp`` (mode 0600) and keep that mode: projects, autosaves and
prosody reports came out 0600 under umask 022 while audio came out 0644. They now all go through
:func:`dsp.io.write_text_atomic`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 48000


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _no_temps(folder: Path) -> bool:
    return not any(p.name.endswith(".tmp-roomtone") for p in folder.iterdir())


def test_project_file_gets_the_umask_mode(tmp_path, umask_022):
    from app.session.project import Project, save_project

    save_project(Project(), tmp_path / "a.roomtone")
    assert _mode(tmp_path / "a.roomtone") == 0o644 and _no_temps(tmp_path)


def test_autosave_gets_the_umask_mode(tmp_path, umask_022):
    from types import SimpleNamespace

    from app.session.autosave import Autosave
    from app.session.project import Project

    auto = Autosave(tmp_path / "auto")
    written = auto.save_if_dirty(SimpleNamespace(dirty=True, project=Project(), path=None))
    files = sorted((tmp_path / "auto").iterdir())
    assert written in files and len(files) == 2  # the run marker and the autosave
    assert all(_mode(p) == 0o644 for p in files), [(p.name, oct(_mode(p))) for p in files]


def test_prosody_report_and_json_get_the_umask_mode(tmp_path, umask_022, monkeypatch):
    import app.prosody_report as pr
    from app.commands.prosody import _write_json

    monkeypatch.setattr(pr, "render_report", lambda dataset, **k: "<html></html>")
    pr.write_report(tmp_path / "r.html", dataset=None)
    _write_json(str(tmp_path / "r.json"), {"a": 1})
    assert _mode(tmp_path / "r.html") == 0o644 and _mode(tmp_path / "r.json") == 0o644
    assert (tmp_path / "r.html").read_text() == "<html></html>" and _no_temps(tmp_path)


def _profile():
    from dsp.roomtone import NoiseProfile

    return NoiseProfile(sample_rate=SR, n_fft=16, hop_length=4, mean_power=np.ones(9), power_std=np.ones(9),
                        level_dbfs=-60.0)


def test_profile_save_is_atomic_with_a_unique_temp_and_the_umask_mode(tmp_path, umask_022, monkeypatch):
    import errno

    import dsp.io
    from dsp.errors import OutputError
    from dsp.roomtone import NoiseProfile

    _profile().save(tmp_path / "room.json")
    assert _mode(tmp_path / "room.json") == 0o644 and _no_temps(tmp_path)
    assert NoiseProfile.load(tmp_path / "room.json").level_dbfs == -60.0

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dsp.io.os, "fsync", full)
    with pytest.raises(OutputError, match="disk full"):
        _profile().save(tmp_path / "room2.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["room.json"]  # nothing left, no temp


def test_profile_command_reports_a_full_disk_in_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import dsp.io
    from app.cli import main

    src = tmp_path / "in.wav"
    rng = np.random.default_rng(0)
    sf.write(str(src), (0.01 * rng.standard_normal(SR * 2)).astype(np.float32), SR, subtype="PCM_16")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(dsp.io.os, "fsync", full)
    code = main(["profile", str(src), "-o", str(tmp_path / "room.json"), "--learn", "0-1.5"])
    err = capsys.readouterr().err
    assert code == 4 and "disk full" in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


def test_presets_and_pictures_use_the_shared_atomic_write(tmp_path, umask_022, monkeypatch):
    """No fixed temporary names (``.x.png.tmp-roomtone``, ``x.toml.tmp``): our pid-named ones."""
    import dsp.io
    from app.presets import save_user_preset
    from app.spectrogram_png import write_spectrogram_png
    from dsp.chain import ChainSettings

    seen = []
    real = dsp.io.tempfile.mkstemp

    def spy(*a, **k):
        fd, name = real(*a, **k)
        seen.append(Path(name).name)
        return fd, name

    monkeypatch.setattr(dsp.io.tempfile, "mkstemp", spy)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    png = write_spectrogram_png(tmp_path / "s.png", np.full((16, 20), -60.0), SR, 1.0)
    preset = save_user_preset(ChainSettings(name="x"), "mine")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and preset.read_text().strip()
    assert _mode(png) == 0o644 and _mode(preset) == 0o644
    assert [n.split(".")[1] for n in seen] == ["s", "mine"] and all(dsp.io._TEMP_RE.match(n) for n in seen)
    assert _no_temps(tmp_path) and _no_temps(preset.parent)
