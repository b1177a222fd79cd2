"""The systems the quality benchmark scores: peers (bench/peers.py) and Roomtone's presets.

Roomtone systems: every factory preset in ``assets/presets/*.toml`` (``podcast``, ``gentle``,
``strong``, ``hum-and-hiss``, and ``podcast-ml`` once it exists), plus ``podcast (refill off)``
(the podcast preset with its ``refill`` stages bypassed) to measure what refill does. Each is
built the way the CLI builds it: through ``app.pipeline.prepare_processor`` when that exists,
otherwise directly (``estimate_room_tone`` on the benchmark's noise regions, ``analyse_source``,
``build_chain``), and rendered with the real render loop (``dsp.render.render_array`` ->
``render_blocks``). The room-tone profile is learned from exactly the same noise regions as
the profile-based peers.

A system is identified by its name; its ``code_hash`` changes whenever the code or the tools
that produce its output change (the cache key of bench/quality.py).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from bench import peers

REPO = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
REFILL_OFF = "podcast (refill off)"


@dataclass(frozen=True)
class Case:
    """One benchmark file: mono noisy input, clean reference, the noise regions."""

    name: str
    dataset: str
    sample_rate: int
    noisy: np.ndarray  # (samples,) float32
    clean: np.ndarray  # (samples,) float32
    regions: tuple[tuple[float, float], ...]  # seconds
    region_fallback: bool
    noise: np.ndarray  # the regions' samples concatenated


@dataclass(frozen=True)
class System:
    name: str
    family: str  # "reference", "oracle", "dsp", "ml", "roomtone"
    run: Callable[[Case], np.ndarray]
    code_hash: str
    description: str = ""


def _hash_files(paths, extra: str = "") -> str:
    h = hashlib.sha1(extra.encode())
    for p in sorted(set(Path(p) for p in paths)):
        if p.is_file():
            h.update(str(p.relative_to(REPO) if p.is_relative_to(REPO) else p).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


@lru_cache(maxsize=1)
def _peer_hash() -> str:
    versions = peers.tool_versions()
    return _hash_files([BENCH / "peers.py", BENCH / "systems.py"], repr(sorted(versions.items())))


@lru_cache(maxsize=1)
def _roomtone_code_hash() -> str:
    files = [*REPO.glob("dsp/*.py"), *REPO.glob("models/*.py"), *REPO.glob("app/pipeline.py"), BENCH / "systems.py"]
    return _hash_files(files)


# -- peers ---------------------------------------------------------------------------------------
def _peer_system(p: peers.Peer) -> System:
    def run(case: Case) -> np.ndarray:
        return p.run(case.noisy, case.sample_rate, case.noise)

    return System(p.name, p.family, run, _peer_hash(), p.description)


def _clean_oracle(case: Case) -> np.ndarray:
    return np.array(case.clean, np.float32)


# -- Roomtone ------------------------------------------------------------------------------------
def roomtone_settings(preset: str, *, refill: bool = True):
    """The chain settings of ``preset``; ``refill=False`` bypasses its refill stages."""
    from app.presets import load_preset

    settings = load_preset(preset)
    if not refill:
        stages = tuple(replace(s, bypass=True) if s.kind == "refill" else s for s in settings.stages)
        if stages == settings.stages or all(s.kind != "refill" for s in settings.stages):
            raise peers.PeerFailed(f"preset {preset!r} has no refill stage to switch off")
        settings = replace(settings, stages=stages, name=f"{settings.name} (refill off)")
    return settings


def learn_profile(noisy: np.ndarray, sample_rate: int, regions, settings):
    """Roomtone's room-tone profile from the benchmark's noise regions (same ones as the peers)."""
    from dsp import roomtone

    if not hasattr(roomtone, "estimate_room_tone"):
        raise peers.PeerFailed("dsp.roomtone.estimate_room_tone is not built yet")
    audio = np.asarray(noisy, np.float32)[None, :]
    kwargs = {"regions": [tuple(r) for r in regions]}
    settings_cls = getattr(roomtone, "RoomToneSettings", None)
    if settings_cls is not None:
        params = inspect.signature(settings_cls).parameters
        kwargs["settings"] = settings_cls(stft=settings.stft) if "stft" in params else settings_cls()
    return roomtone.estimate_room_tone(audio, sample_rate, **kwargs)


def build_roomtone(noisy: np.ndarray, sample_rate: int, regions, settings):
    """A prepared-to-render processor for ``settings`` on this input, the CLI's way
    (``app.pipeline.prepare_processor``). ``regions=None``: the room tone is found automatically,
    as a user runs ``roomtone clean`` without a profile (how Roomtone is scored since issue 18);
    else it is learned from the benchmark's noise regions."""
    from app import pipeline
    from dsp.render import ArraySource

    source = ArraySource(np.asarray(noisy, np.float32)[None, :], sample_rate)
    profile = None if regions is None else learn_profile(noisy, sample_rate, regions, settings)
    return pipeline.prepare_processor(source, settings, profile=profile)[0]


def _roomtone_system(preset: str, *, refill: bool = True) -> System:
    name = preset if refill else REFILL_OFF

    def run(case: Case) -> np.ndarray:
        from dsp.render import render_array

        settings = roomtone_settings(preset, refill=refill)
        proc = build_roomtone(case.noisy, case.sample_rate, None, settings)  # automatic room tone
        out = render_array(np.asarray(case.noisy, np.float32)[None, :], case.sample_rate, proc)
        return np.asarray(out[0], np.float32)

    preset_file = REPO / "assets" / "presets" / f"{preset}.toml"
    return System(name, "roomtone", run, _hash_files([preset_file], _roomtone_code_hash()), f"Roomtone preset {preset}")


def roomtone_presets() -> list[str]:
    """Factory presets (assets/presets/*.toml), podcast first."""
    names = sorted(p.stem for p in (REPO / "assets" / "presets").glob("*.toml"))
    return sorted(names, key=lambda n: (n != "podcast", n))


def all_systems() -> dict[str, System]:
    """Every system, in table order: references, peers, Roomtone."""
    out: dict[str, System] = {}
    for p in peers.PEERS:
        out[p.name] = _peer_system(p)
    for preset in roomtone_presets():
        out[preset] = _roomtone_system(preset)
        if preset == "podcast":
            out[REFILL_OFF] = _roomtone_system("podcast", refill=False)
    if "podcast" not in out:
        # Keep the podcast rows visible (as failures) until the preset exists.
        out["podcast"] = _roomtone_system("podcast")
        out[REFILL_OFF] = _roomtone_system("podcast", refill=False)
    out["clean (oracle)"] = System("clean (oracle)", "oracle", _clean_oracle, "oracle", "the clean reference itself")
    return out
