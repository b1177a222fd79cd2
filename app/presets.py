"""Preset files and ``--set`` overrides: chain settings as the user keeps and tweaks them.

Presets are TOML files: factory ones in ``assets/presets/`` (inside the frozen app, under
PyInstaller's ``sys._MEIPASS``), user ones in the per-user config folder
(:func:`app.paths.config_dir` ``/presets``; a user preset shadows a factory one of the same name).
``--set key=value`` (:func:`apply_overrides`) reaches every field: chain fields by name
(``max_total_reduction_db=12``), groups (``stft.n_fft=1024``), stage fields by kind or index
(``gate.max_reduction_db=4``, ``stages.1.max_reduction_db=4``, ``gate.bypass=true``).

This is app-layer work (files, folders, command-line syntax): ``dsp.chain`` keeps what a render
needs (the registry, :class:`~dsp.chain.ChainSettings` and its dict form, building a chain).
It sits beside ``app.paths`` rather than in ``app.session`` because ``app.pipeline`` (which the
session builds on) applies ``--set`` too.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from app.paths import config_dir
from dsp.chain import (
    NESTED_GROUPS,
    ChainSettings,
    coerce_setting,
    settings_from_dict,
    settings_to_dict,
)
from dsp.errors import ParameterError
from dsp.io import write_text_atomic

#: The preset a render uses when none is named.
DEFAULT_PRESET = "podcast"


def factory_preset_dir() -> Path:
    """The factory presets (``assets/presets`` beside the packages, or inside the frozen app)."""
    base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[1]))
    return base / "assets" / "presets"


def user_preset_dir() -> Path:
    """The user's own presets (see :func:`app.paths.config_dir`)."""
    return config_dir() / "presets"


def list_presets() -> dict[str, Path]:
    """Preset name -> file; user presets shadow factory ones of the same name."""
    out: dict[str, Path] = {}
    for folder in (factory_preset_dir(), user_preset_dir()):
        if folder.is_dir():
            for p in sorted(folder.glob("*.toml")):
                out[p.stem] = p
    return out


def load_preset(name_or_path: str | os.PathLike = DEFAULT_PRESET) -> ChainSettings:
    """A preset by name (factory or user) or by path to a ``.toml`` file.

    Raises
    ------
    ParameterError
        An unknown name (the message lists the presets there are), or a file that cannot be read
        or holds settings Roomtone does not know.
    """
    path = Path(name_or_path)
    if path.suffix != ".toml" or not path.exists():
        presets = list_presets()
        if str(name_or_path) not in presets:
            raise ParameterError(
                f"unknown preset {str(name_or_path)!r}; available: {', '.join(sorted(presets)) or 'none'} "
                "(or give a path to a .toml preset)"
            )
        path = presets[str(name_or_path)]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ParameterError(f"{path}: cannot read preset ({exc})") from None
    data.setdefault("name", path.stem)
    return ChainSettings.from_dict(data)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{s}"'


def preset_to_toml(settings: ChainSettings) -> str:
    """``settings`` as the text of a preset file (:func:`load_preset` reads it back equal)."""
    d = settings.to_dict()
    lines = [f"{k} = {_toml_value(d[k])}" for k in ("name", "description", "max_total_reduction_db", "mix", "listen", "seed")]
    for group in NESTED_GROUPS:
        lines += ["", f"[{group}]"] + [f"{k} = {_toml_value(v)}" for k, v in d[group].items()]
    for st in d["stages"]:
        lines += ["", "[[stages]]"] + [f"{k} = {_toml_value(v)}" for k, v in st.items() if v is not None]
    return "\n".join(lines) + "\n"


def save_user_preset(settings: ChainSettings, name: str) -> Path:
    """Save ``settings`` as the user preset ``name`` (atomically); returns its file."""
    if not name or any(c in name for c in "/\\:") or name.startswith("."):
        raise ParameterError(f"preset name {name!r} is not a valid file name")
    folder = user_preset_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    write_text_atomic(path, preset_to_toml(dataclasses.replace(settings, name=name)))
    return path


# -- --set key=value ------------------------------------------------------------------------------
def apply_overrides(chain: ChainSettings, assignments: list[str]) -> ChainSettings:
    """``chain`` with ``key=value`` strings applied in order (see the module docstring).

    Raises
    ------
    ParameterError
        A string without ``=``, a key that names no setting or stage, or a value of the wrong
        type or out of range (the message names the key).
    """
    out = chain
    for a in assignments:
        out = _apply_override(out, a)
    return out


def _apply_override(chain: ChainSettings, assignment: str) -> ChainSettings:
    if "=" not in assignment:
        raise ParameterError(f"--set expects key=value, got {assignment!r}")
    key, value = (s.strip() for s in assignment.split("=", 1))
    parts = key.split(".")
    chain_fields = {f.name for f in dataclasses.fields(ChainSettings)}
    if len(parts) == 1 and parts[0] in chain_fields and parts[0] != "stages" and parts[0] not in NESTED_GROUPS:
        return dataclasses.replace(chain, **{parts[0]: coerce_setting(value, getattr(chain, parts[0]), key)})
    if parts[0] in NESTED_GROUPS and len(parts) == 2:
        group = parts[0]
        current = dataclasses.asdict(getattr(chain, group))
        return dataclasses.replace(
            chain, **{group: settings_from_dict(NESTED_GROUPS[group], {**current, parts[1]: value}, group)})
    idx, field_name = _stage_target(chain, key, parts)
    spec = chain.stages[idx]
    if field_name in ("bypass", "mix"):
        new_spec = dataclasses.replace(spec, **{field_name: coerce_setting(value, getattr(spec, field_name), key)})
    else:
        where = key.rsplit(".", 1)[0]  # the stage; settings_from_dict adds ".field"
        new_settings = settings_from_dict(type(spec.settings), {**settings_to_dict(spec.settings), field_name: value},
                                          where)
        new_spec = dataclasses.replace(spec, settings=new_settings)
    stages = list(chain.stages)
    stages[idx] = new_spec
    return dataclasses.replace(chain, stages=tuple(stages))


def _stage_target(chain: ChainSettings, key: str, parts: list[str]) -> tuple[int, str]:
    """The stage index and field a ``--set`` key names: ``stages.N.field`` or ``kind.field``."""
    if parts[0] == "stages" and len(parts) == 3:
        try:
            idx = int(parts[1])
            if idx < 0:
                raise IndexError(idx)  # stages.-1 must not quietly mean the last stage
            chain.stages[idx]
        except (ValueError, IndexError):
            raise ParameterError(
                f"{key}: no stage {parts[1]!r}; stages are numbered 0 to {len(chain.stages) - 1} (the chain has "
                f"{len(chain.stages)} stages)"
            ) from None
        return idx, parts[2]
    if len(parts) == 2:
        matches = [i for i, s in enumerate(chain.stages) if s.kind == parts[0]]
        if not matches:
            raise ParameterError(
                f"{key}: no stage of kind {parts[0]!r} in this chain (stages: {[s.kind for s in chain.stages]}); "
                "use stages.N.field"
            )
        if len(matches) > 1:
            raise ParameterError(f"{key}: the chain has {len(matches)} {parts[0]!r} stages; use stages.N.{parts[1]}")
        return matches[0], parts[1]
    raise ParameterError(f"--set {key}: expected FIELD, stft.FIELD, KIND.FIELD or stages.N.FIELD")
