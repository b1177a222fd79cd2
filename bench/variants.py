"""Score variants of a preset on the 40 dev pairs: the tool behind the tuning tables in bench/README.md.

Each variant is a name, an optional ``base=PRESET`` (default ``podcast``) and ``--set``-style
overrides; variants are separated by ``--``::

    .venv/bin/python bench/variants.py shipped -- dd90 mmse.snr_smoothing=0.9 gate.snr_smoothing=0.9

No preset file is written: each variant's chain settings are built in memory
(``apply_overrides(load_preset(base), ...)``) and run the way ``bench/quality.py`` runs a preset
(same room-tone regions, same alignment, same scores, same output cache keyed by the settings and
the code). It prints the dev-pair means of the scores the issue-3 and issue-4 claims use, one row
per variant, and the thresholds they are judged against. About 55 s per variant on 2 cores.

Not part of the test run.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

import quality  # noqa: E402
import systems  # noqa: E402

COLUMNS = ("pesq", "estoi", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl", "kurtosis_ratio", "hole_rate", "attenuation_db")
HEADERS = ("PESQ", "ESTOI", "SIG", "BAK", "OVRL", "kurtosis", "hole rate", "atten. dB")
#: What the open claims ask of the ``podcast`` preset on the dev pairs (issue 3; the hole rate:
#: issue 4, 1.5x passthrough's 0.0566).
TARGETS = "ESTOI > 0.750, OVRL > 2.652, kurtosis <= 1.1, hole rate <= 0.0849"


def variant_settings(base: str, overrides: list[str]):
    from app.presets import apply_overrides, load_preset

    return apply_overrides(load_preset(base), overrides) if overrides else load_preset(base)


def _system(name: str, base: str, overrides: list[str]) -> systems.System:
    from app.presets import preset_to_toml
    from dsp.render import render_array

    settings = variant_settings(base, overrides)

    def run(case):
        import numpy as np

        proc = systems.build_roomtone(case.noisy, case.sample_rate, None, settings)  # automatic room tone
        return render_array(np.asarray(case.noisy, np.float32)[None, :], case.sample_rate, proc)[0]

    code_hash = hashlib.sha1((systems._roomtone_code_hash() + preset_to_toml(settings)).encode()).hexdigest()
    return systems.System(f"variant {name}", "roomtone", run, code_hash, f"{base} with {overrides}")


def score_system(system: systems.System, label: str, file: str) -> dict:
    """``system`` on one dev pair: the scores ``bench/quality.py`` gives a preset (cached alike)."""
    case = quality.load_case(file)
    y, seconds = quality._run_system(system, case, True)
    row = {"variant": label, "file": case.name, "seconds": seconds}
    row.update(quality._score(case, file, False, y))
    return row


def score(name: str, base: str, overrides: list[str], file: str) -> dict:
    """One variant on one file."""
    return score_system(_system(name, base, overrides), name, file)


def run_on_dev_pairs(fn, variants: list[tuple]) -> list[dict]:
    """``fn(*variant, file)`` for every variant on every dev pair, in two worker processes."""
    files = [f for ds, f in quality.list_cases() if ds != "podcast"]
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn"), initializer=quality._worker_init, initargs=(True,)) as pool:
        futs = [pool.submit(fn, *v, f) for f in files for v in variants]
        return [fu.result() for fu in futs]


def means(rows: list[dict], label: str) -> list[float]:
    """The dev-pair means of :data:`COLUMNS` for one variant's rows."""
    rs = [r for r in rows if r["variant"] == label]
    return [quality._mean(r.get(k) for r in rs) for k in COLUMNS]


def parse(argv: list[str]) -> list[tuple[str, str, list[str]]]:
    groups, cur = [], []
    for a in argv:
        if a == "--":
            groups.append(cur)
            cur = []
        else:
            cur.append(a)
    groups.append(cur)
    out = []
    for g in groups:
        if not g:
            continue
        name, rest = g[0], g[1:]
        base = "podcast"
        if rest and rest[0].startswith("base="):
            base, rest = rest[0][5:], rest[1:]
        variant_settings(base, rest)  # a bad key or value fails here, before any work
        out.append((name, base, rest))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], usage="%(prog)s NAME [base=PRESET] [KEY=VALUE ...] [-- NAME ...]")
    ap.add_argument("spec", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    variants = parse(args.spec)
    if not variants:
        ap.error("give at least one variant name")
    t0 = time.perf_counter()
    rows = run_on_dev_pairs(score, variants)
    print(f"{len(variants)} variant(s) x 40 dev pairs in {time.perf_counter() - t0:.0f} s; targets: {TARGETS}")
    print("| variant | " + " | ".join(HEADERS) + " |")
    print("|---|" + "---|" * len(HEADERS))
    for name, base, overrides in variants:
        label = f"{name} ({base}{': ' + ' '.join(overrides) if overrides else ''})"
        values = means(rows, name)
        print(f"| {label} | " + " | ".join(f"{m:.4f}" if k != "attenuation_db" else f"{m:.1f}" for k, m in zip(COLUMNS, values, strict=True)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
