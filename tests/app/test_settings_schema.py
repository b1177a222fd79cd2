"""One settings schema (issue 20): a field's range is said once and every entry point uses it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from app import pipeline
from app.presets import apply_overrides, load_preset
from app.session import Session
from app.session.project import Project
from dsp.chain import registry
from dsp.denoise import GateSettings, MmseSettings, PassSettings
from dsp.errors import ParameterError
from dsp.schema import FieldSchema, check_settings, field_schema, schemas, setting

EXPECTED = "gate.max_reduction_db must be between 0 and 40 dB, got 55.0"


def test_the_passes_declare_their_shared_fields_once():
    shared = {f.name for f in dataclasses.fields(PassSettings)}
    for cls in (GateSettings, MmseSettings):
        assert issubclass(cls, PassSettings) and shared <= {f.name for f in dataclasses.fields(cls)}
        assert set(schemas(cls)) == {f.name for f in dataclasses.fields(cls)}  # every field has a schema
        assert all(s.doc for s in schemas(cls).values())
    # the estimators keep their own defaults for shared fields
    assert (GateSettings().snr_smoothing, MmseSettings().snr_smoothing) == (0.96, 0.98)


def test_settings_refuse_what_their_schema_refuses():
    with pytest.raises(ParameterError, match=EXPECTED):
        GateSettings(max_reduction_db=55.0)
    with pytest.raises(ParameterError, match=r"mmse.snr_smoothing must be at least 0 and below 1, got 1.0"):
        MmseSettings(snr_smoothing=1.0)
    with pytest.raises(ParameterError, match="must be below presence_high_snr_db"):
        GateSettings(presence_low_snr_db=0.0, presence_high_snr_db=-3.0)
    with pytest.raises(ParameterError, match="got nan"):
        GateSettings(release_ms=float("nan"))


def test_schema_describe_and_choices():
    assert FieldSchema(0, 40, "dB").describe() == "between 0 and 40 dB"
    assert FieldSchema(choices=("a", "b")).describe() == "one of a, b"

    @dataclasses.dataclass(frozen=True)
    class S:
        mode: str = setting("a", choices=("a", "b"), doc="which")
        level_db: float = setting(-3.0, hi=0.0, unit="dB")

    check_settings(S(), "s")
    with pytest.raises(ParameterError, match=r"s.mode must be one of a, b, got 'c'"):
        check_settings(S(mode="c"), "s")
    with pytest.raises(ParameterError, match=r"s.level_db must be at most 0 dB, got 3.0"):
        check_settings(S(level_db=3.0), "s")
    assert field_schema(S, "mode").doc == "which" and field_schema(S, "nosuch") is None


# -- the same refusal, with the same range, at every entry point -----------------------------------
def test_session_refuses_with_the_schema_message():
    s = Session(Project(chain=load_preset("podcast")))
    gate = [x.kind for x in s.project.chain.stages].index("gate")
    with pytest.raises(ParameterError) as info:
        s.set_stage_setting(gate, "max_reduction_db", 55)
    assert str(info.value) == EXPECTED


def test_cli_set_and_max_reduction_refuse_with_the_schema_message(tmp_path):
    with pytest.raises(ParameterError) as info:
        apply_overrides(load_preset("podcast"), ["gate.max_reduction_db=55"])
    assert str(info.value) == EXPECTED
    with pytest.raises(ParameterError) as info:
        pipeline.adjust_settings(load_preset("podcast"), max_reduction_db=55)
    assert str(info.value) == f"--max-reduction-db: {EXPECTED}"
    # and --max-reduction-db within range reaches the passes with a cap, not de-hum (no cap)
    out = pipeline.adjust_settings(load_preset("podcast"), max_reduction_db=8)
    caps = {x.kind: getattr(x.settings, "max_reduction_db", None) for x in out.stages}
    assert caps["gate"] == caps["mmse"] == 8.0 and caps["dehum"] is None


@pytest.mark.slow
def test_the_command_line_says_the_same(tmp_path, dev_data):
    src = dev_data / "clean" / "s01_vctk_p286.flac"
    r = subprocess.run([sys.executable, "-m", "app.cli", "clean", str(src), "-o", str(tmp_path / "o.flac"),
                        "--set", "gate.max_reduction_db=55"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == f"roomtone: error: {EXPECTED}"


@pytest.mark.gui
def test_the_workstation_offers_exactly_the_schema_range(qtbot):
    pytest.importorskip("PySide6")
    from app.qt.chain_panel import field_range

    for kind in registry().values():
        for name, schema in schemas(kind.settings_cls).items():
            default = getattr(kind.settings_cls(), name)
            if schema.lo is None or schema.hi is None or isinstance(default, bool):
                continue
            lo, hi = field_range(name, default, 96000, kind.settings_cls)
            top = min(schema.hi, 48000.0) if name.endswith("_hz") and schema.hi > schema.lo + 1 else schema.hi
            assert lo == schema.lo and (hi < top if schema.hi_open else hi == top), (kind.name, name)  # Hz: to Nyquist
            for end in (lo, hi):  # both ends of the slider pass the field's own check
                try:
                    kind.settings_cls(**{name: end})
                except Exception as exc:  # noqa: BLE001 - a reloaded dsp.errors elsewhere in the run has its own class
                    assert type(exc).__name__ == "ParameterError", exc
                    assert f".{name} must be {schema.describe()}" not in str(exc), exc  # only a cross-field rule refuses


def test_every_stage_kind_declares_its_fields_in_the_schema():
    """A new stage's settings say their range, unit and meaning once (or the GUI, the CLI and the
    session would each guess): every field of every registered kind has a schema with a doc."""
    real = [k for k in registry().values() if not k.name.startswith(("t_", "tpass"))]  # no test stand-ins
    missing = {kind.name: sorted({f.name for f in dataclasses.fields(kind.settings_cls)}
                                 - {n for n, s in schemas(kind.settings_cls).items() if s.doc})
               for kind in real}
    missing = {k: v for k, v in missing.items() if v}
    assert not missing, f"settings fields without a schema: {missing}"
