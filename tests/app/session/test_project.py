"""Project value and file: round trip, versions, relative/absolute sources, relink, errors."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from app.presets import list_presets, load_preset
from app.session import project as project_mod
from app.session.project import (
    PROJECT_FORMAT,
    PROJECT_VERSION,
    FrozenMap,
    Project,
    Selection,
    SourceRef,
    default_chain,
    load_project,
    project_versions,
    register_version_provider,
    relink,
    save_project,
)
from dsp.chain import ChainSettings
from dsp.errors import InputError, OutputError, ParameterError

from . import make_chain, make_profile, write_test_wav


@pytest.fixture(autouse=True)
def _kinds(test_kinds):
    """Every test here runs with the stand-in stage kinds (conftest.test_kinds)."""


@pytest.fixture
def wav(tmp_path):
    (tmp_path / "audio").mkdir()
    return write_test_wav(tmp_path / "audio" / "ep.wav")


def full_project(wav) -> Project:
    return Project(
        source=SourceRef.from_path(wav), chain=make_chain(), profile=make_profile(),
        selection=Selection(0.5, 1.25, 200.0, 4000.0),
        analyses={"holes": {"count": 3, "total_s": 0.42, "spans": [[0.1, 0.2], [1.0, 1.1]]}, "lufs": -19.2},
        name="Episode 12",
    )


# -- the value ------------------------------------------------------------------------------------
def test_source_ref_reads_header_and_hashes(wav):
    ref = SourceRef.from_path(wav)
    assert (ref.sample_rate, ref.channels, ref.frames) == (16000, 1, 32000)
    assert ref.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert ref.path == str(wav.absolute()) and ref.size_bytes == wav.stat().st_size
    assert ref.duration_s == pytest.approx(2.0)


def test_project_is_immutable_and_analyses_frozen(wav):
    p = full_project(wav)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"  # type: ignore[misc]
    assert isinstance(p.analyses, FrozenMap)
    with pytest.raises(TypeError):
        p.analyses["x"] = 1  # type: ignore[index]
    assert p.analyses["holes"]["spans"] == ((0.1, 0.2), (1.0, 1.1))
    # a caller's dict cannot change the project afterwards
    data = {"a": [1, 2]}
    q = Project(analyses=data)
    data["a"].append(3)
    assert q.analyses["a"] == (1, 2)


def test_analyses_accept_numpy_and_reject_objects():
    p = Project(analyses={"curve": np.array([1.0, 2.0]), "n": np.int64(3)})
    assert p.analyses["curve"] == (1.0, 2.0) and type(p.analyses["n"]) is int
    with pytest.raises(ParameterError, match="JSON data"):
        Project(analyses={"bad": object()})


def test_with_analysis_adds_and_removes():
    p = Project().with_analysis("holes", {"count": 2})
    assert p.analyses == {"holes": {"count": 2}}
    assert p.with_analysis("holes", None).analyses == {}


def test_equality_compares_profiles_by_value(wav):
    a = full_project(wav)
    b = dataclasses.replace(a, profile=make_profile())  # equal values, different arrays
    assert a == b
    c = dataclasses.replace(a, profile=make_profile(seed=2))
    assert a != c
    assert a != dataclasses.replace(a, profile=None)


def test_selection_validation_and_between():
    with pytest.raises(ParameterError):
        Selection(2.0, 1.0)
    with pytest.raises(ParameterError):
        Selection(0.0, 1.0, 100.0, None)
    with pytest.raises(ParameterError):
        Selection(0.0, 1.0, 500.0, 100.0)
    s = Selection.between(3.0, 1.5, 4000, 200)
    assert (s.start_s, s.end_s, s.low_hz, s.high_hz) == (1.5, 3.0, 200, 4000)
    assert s.describe() == "1.50-3.00 s, 200-4000 Hz"


def test_default_chain_is_podcast_preset_when_available():
    chain = default_chain()
    if "podcast" in list_presets():
        try:
            expected = load_preset("podcast")
        except ParameterError:
            expected = ChainSettings()
        assert chain == expected
    else:
        assert chain == ChainSettings()
    assert Project().chain == chain


# -- the file -------------------------------------------------------------------------------------
def test_round_trip_gives_equal_project(wav, tmp_path):
    p = full_project(wav)
    path = tmp_path / "ep.roomtone"
    save_project(p, path)
    q, problems = load_project(path)
    assert problems == []
    assert q == p
    assert q.chain == p.chain and q.chain.stages[0].settings.bands_hz == (100.0, 4000.0)
    np.testing.assert_array_equal(q.profile.mean_power, p.profile.mean_power)
    assert q.selection == p.selection
    # saving the loaded project again writes the same content (apart from the time stamp)
    save_project(q, tmp_path / "again.roomtone")
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("ep.roomtone", "again.roomtone"))
    a.pop("saved_at"), b.pop("saved_at")
    assert a == b


def test_file_is_versioned_json_with_versions(wav, tmp_path):
    path = tmp_path / "ep.roomtone"
    save_project(full_project(wav), path)
    raw = path.read_bytes()
    assert not raw.startswith(b"\x80")  # not a pickle
    d = json.loads(raw)
    assert d["format"] == PROJECT_FORMAT and d["version"] == 1  # no edits: version 1, which an older Roomtone opens (test_edits: 2 with edits)
    sw = d["versions"]["software"]
    assert sw["numpy"] == np.__version__
    import numba

    from dsp import __version__

    assert sw["numba"] == numba.__version__ and sw["roomtone"] == __version__
    assert "models" in d["versions"]
    assert d["source"]["relative_path"] == "audio/ep.wav"
    assert d["source"]["sha256"] == hashlib.sha256(wav.read_bytes()).hexdigest()
    q, _ = load_project(path)
    assert q.saved_versions["software"]["numpy"] == np.__version__


def test_version_providers_are_pluggable(monkeypatch):
    monkeypatch.setattr(project_mod, "_VERSION_PROVIDERS", {})
    register_version_provider("models", lambda: {"silero-vad": "6.0", "deepfilternet3": "sha:abc"})
    register_version_provider("broken", lambda: 1 / 0)
    v = project_versions()
    assert v["models"] == {"silero-vad": "6.0", "deepfilternet3": "sha:abc"}
    assert "ZeroDivisionError" in v["broken"]["error"]


def test_model_versions_are_picked_up(monkeypatch):

    monkeypatch.setattr(project_mod, "_VERSION_PROVIDERS", {})
    monkeypatch.setattr(project_mod, "model_versions", lambda: {"vad": {"sha256": "ab12"}})
    assert project_versions()["models"] == {"vad": {"sha256": "ab12"}}


def test_atomic_save_keeps_old_file_on_failure(wav, tmp_path, monkeypatch):
    path = tmp_path / "ep.roomtone"
    save_project(full_project(wav), path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(project_mod.os, "replace", boom)
    with pytest.raises(OutputError, match="previous file is unchanged"):
        save_project(dataclasses.replace(full_project(wav), name="changed"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []


def test_save_into_missing_folder_is_output_error(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        save_project(Project(), tmp_path / "nope" / "x.roomtone")


def test_newer_version_is_a_clear_input_error(tmp_path):
    d = Project().to_dict()
    d["version"] = PROJECT_VERSION + 1
    path = tmp_path / "new.roomtone"
    path.write_text(json.dumps(d))
    with pytest.raises(InputError, match=r"newer than this Roomtone.*update Roomtone"):
        load_project(path)


@pytest.mark.parametrize("content,match", [
    ("not json", "not a readable"),
    ("[1, 2]", "not a Roomtone project"),
    ('{"format": "something-else"}', "not a Roomtone project"),
    ('{"format": "roomtone-project", "version": 1, "chain": {"stages": [{"kind": "no_such_kind"}]}}',
     "chain settings cannot be used"),
    ('{"format": "roomtone-project", "version": 1, "source": {"path": "x"}}', "damaged: the field 'source.sha256'"),
])
def test_bad_files_are_input_errors(tmp_path, content, match):
    path = tmp_path / "bad.roomtone"
    path.write_text(content)
    with pytest.raises(InputError, match=match):
        load_project(path)


def _set(path: str, value):
    def damage(d: dict) -> None:
        *keys, last = path.split("/")
        for k in keys:
            d = d[int(k)] if isinstance(d, list) else d[k]
        d[int(last) if isinstance(d, list) else last] = value
    return damage


@pytest.mark.parametrize("damage,field", [
    (_set("chain", "x"), "'chain'"),
    (_set("analyses", [1, 2]), "'analyses'"),
    (_set("source/relative_path", 5), "'source.relative_path'"),
    (_set("source/sample_rate", "abc"), "'source.sample_rate'"),
    (_set("source", "x"), "'source'"),
    (_set("selection", [1]), "'selection'"),
    (_set("selection/start_s", "nan"), "'selection.start_s'"),
    (_set("name", [1]), "'name'"),
    (_set("versions", [1]), "'versions'"),
    (_set("version", "1"), "'version'"),
    (_set("version", None), "'version'"),
    (_set("chain/mix", "x"), "'chain': mix"),
    (_set("chain/stages", "x"), "'chain': stages"),
    (_set("chain/stages", [5]), "'chain': stage 0"),
    (_set("chain/stages/0/mix", "x"), r"'chain': stage 0 \(\w+\).mix"),
    (_set("chain/stages/0/bypass", "maybe"), r"'chain': stage 0 \(\w+\).bypass"),
    (_set("profile/hop_length", 0), "'hop_length'"),
    (_set("profile/version", "2.0"), "'version'"),
])
def test_damaged_fields_are_input_errors_naming_the_field(wav, tmp_path, damage, field):
    path = tmp_path / "p.roomtone"
    save_project(full_project(wav), path)
    d = json.loads(path.read_text())
    damage(d)
    path.write_text(json.dumps(d))
    with pytest.raises(InputError, match=f"field {field}"):
        load_project(path)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="no such project file"):
        load_project(tmp_path / "missing.roomtone")


# -- sources that moved or changed ---------------------------------------------------------------
def test_folder_moved_with_audio_resolves_relative_path(wav, tmp_path):
    (tmp_path / "show").mkdir()
    shutil.move(str(wav.parent), str(tmp_path / "show" / "audio"))
    p = full_project(tmp_path / "show" / "audio" / "ep.wav")
    save_project(p, tmp_path / "show" / "ep.roomtone")
    shutil.move(str(tmp_path / "show"), str(tmp_path / "moved"))
    q, problems = load_project(tmp_path / "moved" / "ep.roomtone")
    assert problems == []
    assert q.source.path == str(tmp_path / "moved" / "audio" / "ep.wav")
    assert q.source.sha256 == p.source.sha256


def test_missing_source_reported_with_relink_advice(wav, tmp_path):
    save_project(full_project(wav), tmp_path / "ep.roomtone")
    wav.rename(tmp_path / "elsewhere.wav")
    q, problems = load_project(tmp_path / "ep.roomtone")
    assert [pr.kind for pr in problems] == ["missing"]
    assert "relink" in problems[0].message and "16000 Hz" in problems[0].message
    assert problems[0].path == str(wav.absolute())
    fixed = relink(q, tmp_path / "elsewhere.wav")
    assert fixed.source.path == str(tmp_path / "elsewhere.wav") and fixed.source.sha256 == q.source.sha256
    assert fixed.chain == q.chain and profile_equal(fixed, q)


def profile_equal(a, b):
    return a == dataclasses.replace(b, source=a.source)


def test_changed_source_reported(wav, tmp_path):
    save_project(full_project(wav), tmp_path / "ep.roomtone")
    write_test_wav(wav, seed=99)  # same length, different content
    q, problems = load_project(tmp_path / "ep.roomtone")
    assert [pr.kind for pr in problems] == ["changed"]
    assert "changed since the project was saved" in problems[0].message and "relink" in problems[0].message
    # relinking to the same (changed) file accepts it with the new hash
    fixed = relink(q, wav)
    assert fixed.source.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest() != q.source.sha256


def test_changed_size_detected_without_hash(wav, tmp_path):
    save_project(full_project(wav), tmp_path / "ep.roomtone")
    write_test_wav(wav, seconds=3.0)
    _, problems = load_project(tmp_path / "ep.roomtone", verify=False)
    assert [pr.kind for pr in problems] == ["changed"] and "size" in problems[0].message


def test_relink_refuses_different_audio(wav, tmp_path):
    p = full_project(wav)
    other = write_test_wav(tmp_path / "other.wav", sample_rate=22050)
    with pytest.raises(InputError, match=r"sample rate 22050 Hz \(the project's source has 16000 Hz\)"):
        relink(p, other)
    longer = write_test_wav(tmp_path / "longer.wav", seconds=3.0)
    with pytest.raises(InputError, match="length"):
        relink(p, longer)


def test_no_qt_imported():
    code = "import sys, app.session; import app.session.autosave, app.session.jobs; " \
           "bad = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph', 'shiboken'))]; " \
           "assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)
