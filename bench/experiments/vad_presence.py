"""EXPERIMENT (issue 3, session 5): silero-vad speech probability as the speech presence of the
``podcast`` preset's passes and refill. Not product code, not part of the test run.

The hooks it needs are not in the tree. ``vad_presence.patch`` adds them: an ``ext`` array of
per-STFT-frame presence on the gate, MMSE and refill stages, multiplied into the passes' presence
and, in the refill, replacing (mode 1) or capping (mode 2) its band presence. To reproduce::

    git apply bench/experiments/vad_presence.patch
    .venv/bin/python bench/experiments/vad_presence.py \\
        '[["r4", 0.7, 0.98, 32, ["gate", "mmse"], ["mmse.snr_smoothing=0.85", "gate.snr_smoothing=0.85", "refill.pause_level_db=-6.75"], 1]]'
    git apply -R bench/experiments/vad_presence.patch

Each variant is ``[name, lo, hi, hangover_ms, passes, overrides, refill_mode]``: the VAD's
probabilities (32 ms frames, on the noisy input, whole file) are dilated by ``hangover_ms`` each
way, mapped ``lo..hi`` to presence 0..1 and looked up at each STFT frame's centre. Scores are the
40 dev pairs' means, as in ``bench/variants.py``; results are in bench/README.md.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import systems  # noqa: E402
import variants  # noqa: E402


def find(obj, types, out, seen=None):
    """Every stage of ``types`` inside a built chain."""
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return out
    seen.add(id(obj))
    if isinstance(obj, types):
        out.append(obj)
        return out
    for name in ("processors", "wet", "stages", "processor", "_stages", "chain"):
        v = getattr(obj, name, None)
        if v is None:
            continue
        for x in v if isinstance(v, (list, tuple)) else [v]:
            find(x, types, out, seen)
    return out


def _frame_lookup(stage, presence, n_samples, sr):
    g = stage.geometry
    f = np.arange(n_samples // g.hop_length + 64)
    t = (f * g.hop_length + g.hop_length - g.n_fft / 2) / sr  # frame f's centre (dsp/stft.py framing)
    return presence[np.clip((t / 0.032).astype(int), 0, len(presence) - 1)]


def make_system(tag, lo, hi, hang_ms, passes, overrides, rmode=0):
    from dsp.chain import load_preset
    from dsp.denoise import MmseDenoiser, SpectralGate
    from dsp.refill import HoleRefiller
    from dsp.render import DEFAULT_BLOCK, ensure_prepared, render_array
    from models.vad import speech_probabilities

    settings = load_preset("podcast").with_overrides(overrides)

    def run(case):
        x = np.asarray(case.noisy, np.float32)
        sr = case.sample_rate
        probs = speech_probabilities(x[None], sr)
        k = max(1, int(round(hang_ms / 32.0)))
        probs = maximum_filter1d(probs, size=2 * k + 1)
        presence = np.clip((probs - lo) / (hi - lo), 0, 1).astype(np.float32)
        proc = systems.build_roomtone(x, sr, case.regions, settings)
        ensure_prepared(proc, sr, 1, DEFAULT_BLOCK)
        kinds = tuple(t for t, n in ((SpectralGate, "gate"), (MmseDenoiser, "mmse")) if n in passes)
        for s in find(proc, kinds, []):
            s.ext = _frame_lookup(s, presence, len(x), sr)
        if rmode:
            for s in find(proc, (HoleRefiller,), []):
                s.ext = _frame_lookup(s, presence, len(x), sr)
                s.ext_mode = rmode
        return render_array(x[None], sr, proc)[0]

    h = hashlib.sha1(f"{tag}{lo}{hi}{hang_ms}{passes}{overrides}{rmode}{systems._roomtone_code_hash()}".encode()).hexdigest()
    return systems.System(f"vadexp {tag}", "roomtone", run, h)


def score(tag, lo, hi, hang, passes, overrides, rmode, file):
    return variants.score_system(make_system(tag, lo, hi, hang, passes, overrides, rmode), tag, file)


def main() -> int:
    todo = json.loads(sys.argv[1])
    rows = variants.run_on_dev_pairs(score, [tuple(v) for v in todo])
    for v in todo:
        print(v[0], " ".join(f"{k}={m:.4f}" for k, m in zip(variants.COLUMNS, variants.means(rows, v[0]), strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
