"""One home for the per-user folders (issue 20): the crash logs and autosave agree on every platform."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import paths


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_state_and_log_folders(monkeypatch, tmp_path, platform):
    monkeypatch.setattr(paths.sys, "platform", platform)
    monkeypatch.setattr(paths.Path, "home", classmethod(lambda cls: tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", "")  # empty counts as unset
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    state, log = paths.state_dir(), paths.log_dir()
    want = {"linux": tmp_path / "home" / ".local" / "state" / "roomtone",
            "darwin": tmp_path / "home" / "Library" / "Application Support" / "roomtone",
            "win32": tmp_path / "local" / "roomtone"}[platform]
    assert state == want
    assert log == (tmp_path / "home" / "Library" / "Logs" / "roomtone" if platform == "darwin" else state)


def test_autosave_and_the_cli_use_these_folders():
    from app import cli
    from app.session import autosave

    assert autosave.state_dir is paths.state_dir
    assert cli.log_dir is paths.log_dir
    assert not hasattr(cli, "state_dir")  # the second, disagreeing state_dir is gone
    assert isinstance(paths.state_dir(), Path)
