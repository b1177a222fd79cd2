"""Session: the one mutator, listeners, readable labels, undo of every kind of edit, files, renders."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

import dsp.roomtone
from app.presets import save_user_preset
from app.session import session as session_mod
from app.session.project import Project, Selection, SourceRef, load_project
from app.session.session import Session, build_processor, field_label
from dsp.errors import Cancelled, InputError, ParameterError
from dsp.io import read_audio
from dsp.render import render_array

from . import (
    TGateSettings,
    make_chain,
    make_profile,
    write_test_wav,
)


@pytest.fixture(autouse=True)
def _kinds(test_kinds):
    """Every test here runs with the stand-in stage kinds (conftest.test_kinds)."""


@pytest.fixture
def wav(tmp_path):
    return write_test_wav(tmp_path / "ep.wav")


@pytest.fixture
def session(wav):
    s = Session(Project(chain=make_chain()))
    s.open_source(wav)
    return s


def labels(s: Session) -> list[str]:
    return s.history.labels()


# -- apply, listeners ---------------------------------------------------------------------------
def test_apply_notifies_old_and_new_and_unsubscribes(session):
    seen = []
    unsubscribe = session.subscribe(lambda old, new: seen.append((old.name, new.name)))
    before = session.project
    out = session.apply("Rename", lambda p: dataclasses.replace(p, name="Episode 1"))
    assert out is session.project and out.name == "Episode 1" and before.name == "ep"
    assert seen == [("ep", "Episode 1")]
    session.undo()
    session.redo()
    assert seen[1:] == [("Episode 1", "ep"), ("ep", "Episode 1")]
    unsubscribe()
    session.apply("Rename", lambda p: dataclasses.replace(p, name="x"))
    assert len(seen) == 3


def test_noop_apply_is_not_a_step(session):
    seen = []
    session.subscribe(lambda o, n: seen.append(n))
    session.apply("Nothing", lambda p: dataclasses.replace(p))
    assert seen == [] and labels(session) == [] and not session.dirty


def test_apply_rejects_non_projects_and_other_threads(session):
    with pytest.raises(TypeError, match="not a Project"):
        session.apply("bad", lambda p: None)
    errors = []

    def worker():
        try:
            session.apply("from a job", lambda p: dataclasses.replace(p, name="job"))
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert errors and "GUI thread" in str(errors[0]) and session.project.name == "ep"


def test_failing_listener_does_not_starve_others(session):
    seen = []
    session.subscribe(lambda o, n: 1 / 0)
    session.subscribe(lambda o, n: seen.append(n.name))
    with pytest.raises(ZeroDivisionError):
        session.apply("Rename", lambda p: dataclasses.replace(p, name="y"))
    assert seen == ["y"] and session.project.name == "y"


# -- stage edits --------------------------------------------------------------------------------
def test_stage_setting_label_coalescing_and_undo(session):
    for v in np.linspace(6, 12, 20):
        session.set_stage_setting(0, "max_reduction_db", float(v))
    assert labels(session) == ["Change Gate max reduction"]
    assert session.history.undo_label == "Change Gate max reduction"
    assert session.project.chain.stages[0].settings.max_reduction_db == 12.0
    session.end_coalescing()  # slider released
    session.set_stage_setting(0, "max_reduction_db", "9")  # typed text is converted
    assert session.project.chain.stages[0].settings.max_reduction_db == 9.0
    assert labels(session) == ["Change Gate max reduction"] * 2
    session.undo()
    assert session.project.chain.stages[0].settings.max_reduction_db == 12.0
    session.undo()
    assert session.project.chain.stages[0].settings == TGateSettings()
    session.set_stage_setting(0, "threshold_db", -30, coalesce=False)
    session.set_stage_setting(0, "threshold_db", -31, coalesce=False)
    assert labels(session) == ["Change Gate threshold"] * 2


def test_stage_setting_types_and_errors(session):
    session.set_stage_setting(0, "bands_hz", [50, 8000])
    session.set_stage_setting(0, "adaptive", "off")
    session.set_stage_setting(0, "order", 3.0)
    s = session.project.chain.stages[0].settings
    assert s.bands_hz == (50, 8000) and s.adaptive is False and s.order == 3 and type(s.order) is int
    n = len(labels(session))
    with pytest.raises(ParameterError, match="no setting 'nope'"):
        session.set_stage_setting(0, "nope", 1)
    with pytest.raises(ParameterError, match="0-40 dB"):
        session.set_stage_setting(0, "max_reduction_db", 45)
    with pytest.raises(ParameterError, match="expected a whole number"):
        session.set_stage_setting(0, "order", 2.5)
    with pytest.raises(ParameterError, match="no stage at position 5"):
        session.set_stage_setting(5, "order", 2)
    assert len(labels(session)) == n


def test_bypass_mix_and_labels(session):
    session.add_stage("t_denoise", 1)
    session.set_stage_bypass(1, True)
    assert session.history.undo_label == "Bypass MMSE" and session.project.chain.stages[1].bypass
    session.set_stage_bypass(1, False)
    assert session.history.undo_label == "Enable MMSE"
    session.set_stage_mix(0, 0.5)
    session.set_stage_mix(0, 0.4)
    assert session.history.undo_label == "Change Gate mix" and session.project.chain.stages[0].mix == 0.4
    with pytest.raises(ParameterError):
        session.set_stage_mix(0, 1.5)
    assert labels(session) == ["Add MMSE", "Bypass MMSE", "Enable MMSE", "Change Gate mix"]


def test_structure_edits_undo_redo(session):
    kinds = lambda: [s.kind for s in session.project.chain.stages]  # noqa: E731
    assert kinds() == ["t_gate", "t_gain"]
    session.add_stage("t_gate")
    assert session.history.undo_label == "Add Gate" and kinds() == ["t_gate", "t_gain", "t_gate"]
    session.move_stage(2, 0)
    assert session.history.undo_label == "Move Gate 2 to position 1"
    session.move_stage(1, 2)
    assert session.history.undo_label == "Move Gate 2 down"
    assert kinds() == ["t_gate", "t_gain", "t_gate"]
    session.remove_stage(1)
    assert session.history.undo_label == "Remove Trim" and kinds() == ["t_gate", "t_gate"]
    with pytest.raises(ParameterError, match="unknown stage kind"):
        session.add_stage("no_such_kind")
    chains = []
    while session.undo():
        chains.append([s.kind for s in session.project.chain.stages])
    assert chains[-1] == ["t_gate", "t_gain"]
    while session.redo():
        pass
    assert kinds() == ["t_gate", "t_gate"]


def test_chain_fields(session):
    for m in (0.9, 0.8, 0.7):
        session.set_chain_field("mix", m)
    session.set_chain_field("listen", "removed")
    session.set_chain_field("max_total_reduction_db", "12")
    session.set_chain_field("stft.n_fft", 1024)
    assert labels(session) == ["Change dry/wet mix", "Listen to removed", "Change max total reduction",
                               "Change FFT size"]
    c = session.project.chain
    assert (c.mix, c.listen, c.max_total_reduction_db, c.stft.n_fft) == (0.7, "removed", 12.0, 1024)
    with pytest.raises(ParameterError):
        session.set_chain_field("listen", "sideways")
    with pytest.raises(ParameterError):
        session.set_chain_field("stft.n_fft", 1000)
    with pytest.raises(ParameterError, match="no chain setting"):
        session.set_chain_field("stages", ())
    assert len(labels(session)) == 4


def test_load_preset(session, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    preset = dataclasses.replace(make_chain(), max_total_reduction_db=9.0)
    save_user_preset(preset, "studio-a")
    session.load_preset("studio-a")
    assert session.history.undo_label == "Load preset studio-a"
    assert session.project.chain == dataclasses.replace(preset, name="studio-a")
    session.undo()
    assert session.project.chain == make_chain()
    with pytest.raises(ParameterError, match="unknown preset"):
        session.load_preset("no-such-preset")


def test_group_makes_one_step(session):
    with session.group("Apply suggestion"):
        session.set_stage_setting(0, "max_reduction_db", 10)
        session.set_stage_bypass(1, True)
        session.set_chain_field("mix", 0.5)
    assert labels(session) == ["Apply suggestion"]
    session.undo()
    assert session.project.chain == make_chain()


def test_field_label():
    assert field_label("max_reduction_db") == "max reduction"
    assert field_label("min_hole_ms") == "min hole"
    assert field_label("adaptive") == "adaptive"


# -- selection, dirty ---------------------------------------------------------------------------
def test_selection_is_not_an_undo_step_and_not_dirty(session):
    seen = []
    session.subscribe(lambda o, n: seen.append(n.selection))
    sel = Selection(0.5, 1.25)
    session.set_selection(sel)
    assert session.project.selection == sel and seen == [sel]
    assert labels(session) == [] and not session.dirty
    session.set_stage_bypass(0, True)
    session.set_selection(Selection(1.0, 1.5))
    session.undo()  # back to the state before the bypass, with its selection
    assert session.project.selection == sel
    session.set_selection(None)
    assert session.project.selection is None


def test_dirty_tracks_saved_state(session, tmp_path):
    assert not session.dirty
    session.set_stage_bypass(0, True)
    assert session.dirty and session.title.endswith("*")
    path = session.save(tmp_path / "proj")
    assert path.suffix == ".roomtone" and path.exists() and not session.dirty
    session.undo()
    assert session.dirty
    session.redo()
    assert not session.dirty
    session.dirty = True
    assert session.dirty


def test_save_without_path_needs_a_name():
    with pytest.raises(ParameterError, match="Save As"):
        Session().save()


# -- files --------------------------------------------------------------------------------------
def test_open_source_keeps_chain_drops_profile(session, wav, tmp_path):
    session.set_profile(make_profile())
    session.set_stage_setting(0, "max_reduction_db", 11)
    other = write_test_wav(tmp_path / "ep2.wav", seed=5)
    seen = []
    session.subscribe(lambda o, n: seen.append((o.source.name, n.source.name)))
    session.open_source(other)
    p = session.project
    assert seen == [("ep.wav", "ep2.wav")]
    assert p.source.path == str(other) and p.name == "ep2" and p.profile is None
    assert p.chain.stages[0].settings.max_reduction_db == 11
    assert session.history.initial_label == "Open ep2.wav" and not session.can_undo
    assert session.path is None and not session.dirty
    session.open_source(SourceRef.from_path(wav), keep_chain=False)
    assert session.project.source.name == "ep.wav"


def test_save_and_open_project_identical(session, tmp_path):
    session.set_profile(make_profile())
    session.set_stage_setting(0, "max_reduction_db", 10)
    session.set_selection(Selection(0.2, 0.8))
    session.set_analysis("holes", {"count": 2}, "Detect spectral holes")
    path = session.save(tmp_path / "ep.roomtone")
    fresh = Session()
    problems = fresh.open_project(path)
    assert problems == [] and fresh.project == session.project and fresh.path == path
    assert fresh.history.initial_label == "Open project ep" and not fresh.dirty
    session.set_stage_bypass(0, True)
    session.save()  # to the same path
    assert load_project(path)[0].chain.stages[0].bypass


def test_relink_through_session_is_undoable(session, wav, tmp_path):
    path = session.save(tmp_path / "ep.roomtone")
    moved = tmp_path / "moved.wav"
    wav.rename(moved)
    fresh = Session()
    problems = fresh.open_project(path)
    assert [p.kind for p in problems] == ["missing"]
    fresh.relink(moved)
    assert fresh.project.source.path == str(moved) and fresh.history.undo_label == "Relink source to moved.wav"
    assert fresh.dirty
    with pytest.raises(InputError, match="cannot relink"):
        fresh.relink(write_test_wav(tmp_path / "short.wav", seconds=1.0))


# -- room tone ----------------------------------------------------------------------------------
@pytest.fixture
def fake_estimator(monkeypatch):
    calls = []

    @dataclasses.dataclass(frozen=True)
    class FakeSettings:
        stft: object = None

    def estimate(source, sample_rate, *, regions=None, settings=None, **kw):
        calls.append({"frames": source.frames, "sample_rate": sample_rate, "regions": regions,
                      "settings": settings, "audio": source.read(0, 10), **kw})
        return make_profile(sample_rate=sample_rate, seed=len(calls))

    def find(source, chain, *, source_name=""):  # the automatic search (voice activity) of app.pipeline
        return estimate(source, source.sample_rate, regions=None, settings=FakeSettings(chain.stft),
                        source_name=source_name)

    monkeypatch.setattr(session_mod, "estimate_room_tone", estimate)
    monkeypatch.setattr(session_mod, "RoomToneSettings", FakeSettings)
    monkeypatch.setattr(session_mod, "find_room_tone", find)
    return calls


def test_learn_profile_label_args_and_undo(session, fake_estimator):
    session.set_chain_field("stft.n_fft", 1024)
    session.learn_profile(1.25, 0.5)  # a leftward drag
    assert session.history.undo_label == "Learn room tone 0.50-1.25 s"
    call = fake_estimator[0]
    assert call["regions"] == [(0.5, 1.25)] and call["sample_rate"] == 16000 and call["frames"] == 32000
    assert call["settings"].stft == session.project.chain.stft and call["source_name"] == "ep.wav"
    assert session.project.profile is not None
    session.undo()
    assert session.project.profile is None
    session.redo()
    assert session.project.profile is not None
    session.find_profile_automatically()
    assert fake_estimator[1]["regions"] is None
    assert session.history.undo_label == "Find room tone automatically"


def test_learn_profile_region_errors(session, fake_estimator):
    with pytest.raises(ParameterError, match="empty"):
        session.learn_profile(1.0, 1.0)
    with pytest.raises(ParameterError, match="ends after the source"):
        session.learn_profile(1.0, 5.0)
    with pytest.raises(ParameterError, match="open an audio file"):
        Session().learn_profile(0.0, 1.0)
    assert fake_estimator == []


def test_learn_profile_real_estimator(session):
    if not hasattr(dsp.roomtone, "estimate_room_tone"):
        pytest.skip("dsp.roomtone.estimate_room_tone not built yet")
    session.learn_profile(0.1, 0.9)
    prof = session.project.profile
    assert prof.sample_rate == 16000 and prof.mean_power.shape == (prof.bins,)


def test_profile_set_clear_file_and_rate_check(session, tmp_path):
    session.set_profile(make_profile())
    assert session.history.undo_label == "Set room tone"
    session.save_profile_file(tmp_path / "room.json")
    session.set_profile(None)
    assert session.history.undo_label == "Clear room tone"
    with pytest.raises(ParameterError, match="no room-tone profile to save"):
        session.save_profile_file(tmp_path / "x.json")
    session.load_profile_file(tmp_path / "room.json")
    assert session.history.undo_label == "Load room tone room"
    with pytest.raises(ParameterError, match="learned at 48000 Hz"):
        session.set_profile(make_profile(sample_rate=48000))


# -- processors and renders ---------------------------------------------------------------------
def _reference(project: Project) -> np.ndarray:
    audio, sr = read_audio(project.source.path)
    return render_array(audio, sr, build_processor(project))


def test_build_processor_finds_a_room_tone_as_the_cli_does(session):
    session.add_stage("t_denoise")
    # no profile: the CLI's path finds one automatically, as `roomtone clean` does
    processor, context = session_mod.build_processor(session.project, with_context=True)
    assert processor is not None and context.profile is not None
    session.set_profile(make_profile())
    assert session.build_processor() is not None
    with pytest.raises(ParameterError, match="open an audio file"):
        Session().build_processor()


def test_render_to_is_the_one_render_path(session, tmp_path):
    session.set_stage_setting(0, "max_reduction_db", 3)
    progress = []
    out = tmp_path / "out.wav"
    rec = session.render_to(out, "float32", progress=lambda d, t: progress.append((d, t)))
    rendered, sr = read_audio(out)
    np.testing.assert_array_equal(rendered, _reference(session.project))
    assert not np.array_equal(rendered, read_audio(session.project.source.path)[0])
    assert sr == 16000 and rec.frames == 32000 and progress[-1] == (32000, 32000)


def test_render_cancel_writes_nothing(session, tmp_path):
    out = tmp_path / "out.wav"
    with pytest.raises(Cancelled):
        session.render_to(out, "wav16", cancel=lambda: True)
    assert list(tmp_path.glob("out*")) == []


def test_export_matches_cli_render(session, tmp_path):
    """GUI export == `roomtone clean --preset P.toml --profile room.json` of the same project."""
    import app.cli as cli
    from app.presets import preset_to_toml

    session.set_profile(make_profile())
    session.set_stage_setting(0, "max_reduction_db", 4.5)
    session.set_stage_mix(0, 0.75)
    session.set_chain_field("mix", 0.9)
    session.render_to(tmp_path / "gui.wav", "wav24")
    p = session.project
    (tmp_path / "chain.toml").write_text(preset_to_toml(p.chain))
    p.profile.save(tmp_path / "room.json")
    code = cli.main(["clean", p.source.path, "-o", str(tmp_path / "cli.wav"), "--preset",
                     str(tmp_path / "chain.toml"), "--profile", str(tmp_path / "room.json"),
                     "--format", "wav24", "-q"])
    assert code == 0
    gui, cli_out = (tmp_path / "gui.wav").read_bytes(), (tmp_path / "cli.wav").read_bytes()
    assert gui == cli_out
    assert read_audio(tmp_path / "gui.wav")[0].std() > 0


def test_open_without_hash_then_fill_in(wav, tmp_path):
    import hashlib

    digest = hashlib.sha256(wav.read_bytes()).hexdigest()
    s = Session(Project(chain=make_chain()))
    s.open_source(wav, hash=False)
    assert s.project.source.sha256 == "" and s.project.source.frames == 32000 and not s.dirty
    s.set_stage_bypass(0, True)
    seen = []
    s.subscribe(lambda o, n: seen.append(n.source.sha256))
    assert s.set_source_hash(digest) and seen == [digest]
    assert s.dirty  # the bypass, not the hash
    s.undo()
    assert s.project.source.sha256 == digest and not s.dirty  # undo does not bring back the gap
    assert not s.set_source_hash(digest, tmp_path / "other.wav")


def test_save_fills_in_a_missing_hash(wav, tmp_path):
    import hashlib

    s = Session(Project(chain=make_chain()))
    s.open_source(wav, hash=False)
    path = s.save(tmp_path / "p.roomtone")
    assert s.project.source.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest() and not s.dirty
    assert load_project(path)[0] == s.project


@pytest.mark.parametrize("kind, field, bad, range_text", [
    ("refill", "margin_db", 500.0, "between 0 and 30 dB"),
    ("bandmix", "mix_above", 2.0, "between 0 and 1"),
    ("bandmix", "crossover_hz", 1e9, "between 20 and 96000 Hz"),
    ("eqmatch", "max_boost_db", 100.0, "max_boost_db"),
])
def test_every_stage_refuses_out_of_range_settings_when_set(kind, field, bad, range_text):
    """Settings validate when they are made (issue 20): refill's margin_db=500 was accepted by the
    session because RefillSettings only checked itself in validate(), which nobody called there."""
    from dsp.chain import StageSpec, stage_kind

    s = Session()
    settings_cls = stage_kind(kind).settings_cls
    s.apply(f"Add {kind}", lambda p: dataclasses.replace(
        p, chain=dataclasses.replace(p.chain, stages=(*p.chain.stages, StageSpec(kind, settings_cls())))))
    index = len(s.project.chain.stages) - 1
    before = s.project
    with pytest.raises(ParameterError, match=range_text):
        s.set_stage_setting(index, field, bad)
    assert s.project == before
