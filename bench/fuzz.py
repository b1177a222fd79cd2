"""Fuzzing the readers: damaged WAV and FLAC files through ``clean`` and ``info``.

N files (default 300, fixed seed) are made from small valid WAV and FLAC files (0.5-2 s; 16, 44.1
and 48 kHz; mono and stereo; 16-bit, 24-bit and float) by one mutation each:

=============  ===================================================================================
kind           what
=============  ===================================================================================
flip           1-20 bytes anywhere XORed with random values
flip-header    1-4 bytes of the first 64 (WAV header, FLAC STREAMINFO and first frame header)
truncate       cut at a random length
header-field   one header field set to an edge value (WAV: channels, rate, bits, block align,
               RIFF/data sizes; FLAC: block sizes, rate, channels, bits, total samples, block
               length)
zero-run       100-4000 bytes set to zero
insert         1-500 random bytes inserted
=============  ===================================================================================

Each file goes through ``roomtone clean FILE -o OUT`` (same extension) and ``roomtone info FILE``
in worker processes that run the real CLI's ``main`` (one process per few dozen files, so the
imports and model loads are paid once), each run under a timeout. A worker that hangs is killed
and counted as a hang; one that dies (a crash in a native library) is counted as a crash. The
summary counts exit codes, tracebacks, exit 70s (bugs), hangs, crashes, leaked warnings and
decoder noise on stderr, files left behind, outputs that do not open or are of another container,
and sources that changed; problem rows list the file's seed so it can be rebuilt.

Usage::

    .venv/bin/python bench/fuzz.py [-n 300] [--seed 19] [--timeout 60] [--out bench/results/fuzz.md]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
KINDS = ("flip", "flip-header", "truncate", "header-field", "zero-run", "insert")
#: (name, sample rate, channels, soundfile format, subtype)
BASES = (
    ("wav16-mono-16k", 16000, 1, "WAV", "PCM_16"),
    ("wav24-stereo-48k", 48000, 2, "WAV", "PCM_24"),
    ("float-mono-44k", 44100, 1, "WAV", "FLOAT"),
    ("flac16-mono-48k", 48000, 1, "FLAC", "PCM_16"),
    ("flac24-stereo-44k", 44100, 2, "FLAC", "PCM_24"),
    ("flac16-stereo-16k", 16000, 2, "FLAC", "PCM_16"),
)
JOBS_PER_WORKER = 40


# -- files -----------------------------------------------------------------------------------------
def base_file(folder: Path, name: str, rate: int, channels: int, fmt: str, subtype: str, seconds: float,
              seed: int) -> Path:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = 0.003 * rng.standard_normal((n, channels))
    x += (0.3 * np.sin(2 * np.pi * 180 * t) * ((t * 3) % 1 < 0.5))[:, None]
    path = folder / f"{name}-{seconds:.2f}s{'.wav' if fmt == 'WAV' else '.flac'}"
    sf.write(str(path), x.astype(np.float32), rate, format=fmt, subtype=subtype)
    return path


def _wav_field(data: bytearray, rng: np.random.Generator) -> str:
    fields = {  # offset, size, edge values (canonical 44-byte header as soundfile writes it)
        "riff_size": (4, 4, [0, 1, 0xFFFFFFFF, len(data) * 4]),
        "channels": (22, 2, [0, 3, 255, 65535]),
        "sample_rate": (24, 4, [0, 1, 7999, 2**31 - 1, 0xFFFFFFFF]),
        "byte_rate": (28, 4, [0, 1, 0xFFFFFFFF]),
        "block_align": (32, 2, [0, 1, 65535]),
        "bits": (34, 2, [0, 1, 7, 13, 64, 65535]),
    }
    data_at = data.find(b"data")
    if data_at > 0:
        fields["data_size"] = (data_at + 4, 4, [0, 1, 0xFFFFFFFF, len(data) * 2, len(data) // 3])
    name = list(fields)[int(rng.integers(len(fields)))]
    off, size, values = fields[name]
    value = values[int(rng.integers(len(values)))]
    data[off : off + size] = int(value).to_bytes(size, "little")
    return f"{name}={value}"


def _flac_field(data: bytearray, rng: np.random.Generator) -> str:
    # STREAMINFO body starts at 8: min/max block (2+2), min/max frame (3+3), then 20 bits rate,
    # 3 bits channels-1, 5 bits bps-1, 36 bits total samples.
    choice = int(rng.integers(7))
    if choice == 0:
        lo, hi = (int(v) for v in rng.choice([0, 1, 15, 16, 1024, 4096, 4608, 8192, 65535], 2))
        data[8:12] = lo.to_bytes(2, "big") + hi.to_bytes(2, "big")
        return f"block_sizes={lo}-{hi}"
    if choice == 1:
        value = int(rng.choice([0, 1, 7999, 1_048_575]))
        packed = (value << 4) | (int.from_bytes(data[18:21], "big") & 0xF)
        data[18:21] = packed.to_bytes(3, "big")
        return f"sample_rate={value}"
    if choice == 2:
        ch = int(rng.integers(8))
        data[20] = (data[20] & 0xF1) | (ch << 1)
        return f"channels={ch + 1}"
    if choice == 3:
        bps = int(rng.choice([0, 3, 7, 23, 31]))
        data[20] = (data[20] & 0xFE) | (bps >> 4)
        data[21] = (data[21] & 0x0F) | ((bps & 0x0F) << 4)
        return f"bits={bps + 1}"
    if choice == 4:
        total = int(rng.choice([0, 1, 2**36 - 1, 10**9]))
        data[21] = (data[21] & 0xF0) | (total >> 32)
        data[22:26] = (total & 0xFFFFFFFF).to_bytes(4, "big")
        return f"total_samples={total}"
    if choice == 5:
        length = int(rng.choice([0, 1, 33, 35, 0xFFFFFF]))
        data[5:8] = length.to_bytes(3, "big")
        return f"streaminfo_length={length}"
    data[4] = int(rng.integers(256))
    return f"block_header={data[4]:#x}"


def mutate(data: bytes, kind: str, is_flac: bool, rng: np.random.Generator) -> tuple[bytes, str]:
    """``data`` damaged by one mutation of ``kind``, and a short description."""
    b = bytearray(data)
    if kind == "flip":
        k = int(rng.integers(1, 21))
        pos = rng.integers(0, len(b), k)
        for p in pos:
            b[p] ^= int(rng.integers(1, 256))
        return bytes(b), f"{k} byte(s)"
    if kind == "flip-header":
        k = int(rng.integers(1, 5))
        for p in rng.integers(0, min(64, len(b)), k):
            b[p] ^= int(rng.integers(1, 256))
        return bytes(b), f"{k} byte(s) in the first 64"
    if kind == "truncate":
        n = int(rng.integers(0, len(b)))
        return bytes(b[:n]), f"at {n} of {len(b)} bytes"
    if kind == "header-field":
        what = _flac_field(b, rng) if is_flac else _wav_field(b, rng)  # edits b in place
        return bytes(b), what
    if kind == "zero-run":
        n = int(rng.integers(100, 4001))
        p = int(rng.integers(0, max(1, len(b) - n)))
        b[p : p + n] = bytes(min(n, len(b) - p))
        return bytes(b), f"{n} bytes at {p}"
    if kind == "insert":
        n = int(rng.integers(1, 501))
        p = int(rng.integers(0, len(b)))
        return bytes(b[:p]) + rng.bytes(n) + bytes(b[p:]), f"{n} bytes at {p}"
    raise ValueError(kind)


# -- worker ----------------------------------------------------------------------------------------
def worker() -> int:
    """Run CLI jobs read as JSON lines on stdin; answer one JSON line each on the original stdout."""
    import contextlib
    import warnings

    proto = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # native libraries' prints on fd 1 must not corrupt the protocol
    noise = tempfile.TemporaryFile()
    os.dup2(noise.fileno(), 2)  # native libraries' prints on fd 2 are collected per job
    from app.cli import main

    for line in sys.stdin:
        job = json.loads(line)
        warnings.simplefilter("always")  # count every leaked warning, not the first per place
        out, err = io.StringIO(), io.StringIO()
        at = os.lseek(2, 0, os.SEEK_END)
        escaped = None
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(job["argv"])
            except BaseException as exc:  # noqa: BLE001 - anything main lets through is a finding
                code, escaped = "escaped", f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - t0
        end = os.lseek(2, 0, os.SEEK_END)
        native = os.pread(2, end - at, at).decode("utf-8", "replace") if end > at else ""
        proto.write(json.dumps({"code": code, "out": out.getvalue()[-2000:], "err": err.getvalue()[-4000:],
                                "native": native[-2000:], "escaped": escaped, "seconds": seconds}) + "\n")
    return 0


class Worker:
    """A ``fuzz.py --worker`` process; restarted after a hang, a crash or JOBS_PER_WORKER jobs."""

    def __init__(self, env: dict) -> None:
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.jobs = 0

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [str(PYTHON), str(Path(__file__).resolve()), "--worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env, cwd=self.env["FUZZ_CWD"],
        )
        self.jobs = 0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def run(self, argv: list[str], timeout: float) -> dict:
        import selectors

        if self.proc is None or self.proc.poll() is not None or self.jobs >= JOBS_PER_WORKER:
            self.stop()
            self._start()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.jobs += 1
        self.proc.stdin.write(json.dumps({"argv": argv}) + "\n")
        self.proc.stdin.flush()
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        if not ready:
            self.stop()
            return {"code": "hang", "out": "", "err": "", "native": "", "escaped": None, "seconds": timeout}
        line = self.proc.stdout.readline()
        if not line:
            rc = self.proc.wait()
            self.proc = None
            return {"code": f"crash (signal {-rc})" if rc < 0 else f"died ({rc})", "out": "", "err": "",
                    "native": "", "escaped": None, "seconds": 0.0}
        return json.loads(line)


# -- the run ---------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def output_problem(path: Path) -> str | None:
    want = {".wav": "WAV", ".flac": "FLAC"}[path.suffix]
    try:
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001
        return f"output does not open ({type(exc).__name__})"
    if info.format != want:
        return f"{info.format} inside {path.suffix}"
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=300, help="number of damaged files (default 300)")
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per command before it counts as a hang")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "fuzz.md"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker()

    root = Path(tempfile.mkdtemp(prefix="roomtone-fuzz-"))
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(root / "state"), FUZZ_CWD=str(root),
               NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba")))
    rng = np.random.default_rng(args.seed)
    bases_dir = root / "bases"
    bases_dir.mkdir()
    bases = [base_file(bases_dir, name, rate, ch, fmt, sub, float(rng.choice([0.5, 1.0, 1.5, 2.0])), k)
             for k, (name, rate, ch, fmt, sub) in enumerate(BASES)]
    w = Worker(env)
    rows = []
    t0 = time.perf_counter()
    try:
        for i in range(args.n):
            base = bases[i % len(bases)]
            kind = KINDS[(i // len(bases)) % len(KINDS)]
            case_rng = np.random.default_rng([args.seed, i])
            data, what = mutate(base.read_bytes(), kind, base.suffix == ".flac", case_rng)
            folder = root / f"case{i:04d}"
            folder.mkdir()
            src = folder / f"in{base.suffix}"
            src.write_bytes(data)
            before = sha256(src)
            out = folder / f"out{base.suffix}"
            row = {"i": i, "base": base.name, "kind": kind, "what": what, "bytes": len(data)}
            for cmd, cli in (("clean", ["clean", str(src), "-o", str(out), "-q"]), ("info", ["info", str(src)])):
                r = w.run(cli, args.timeout)
                text = r["err"] + r["out"]
                row[cmd] = r["code"]
                row[f"{cmd}_s"] = r["seconds"]
                row[f"{cmd}_traceback"] = "Traceback (most recent call last)" in text or bool(r["escaped"])
                row[f"{cmd}_warning"] = any(w_ in text for w_ in ("Warning:", "RuntimeWarning", "UserWarning"))
                row[f"{cmd}_native"] = r["native"].strip().splitlines()[0][:100] if r["native"].strip() else ""
                lines = [ln for ln in r["err"].splitlines() if ln.strip()]
                row[f"{cmd}_message"] = (lines[0] if lines else "").removeprefix("roomtone: error: ")[:160]
                row[f"{cmd}_escaped"] = r["escaped"]
            row["source_changed"] = sha256(src) != before
            row["leftovers"] = sorted(p.name for p in folder.iterdir() if "tmp" in p.name)
            row["output"] = (output_problem(out) or "ok") if out.exists() else "-"
            if row["clean"] != 0 and out.exists():
                row["output"] = "written although clean failed"
            rows.append(row)
            print(f"{i:4d} {kind:12s} {what[:40]:40s} clean={row['clean']!s:6s} info={row['info']!s:6s} "
                  f"{row['clean_message'][:60]}", flush=True)
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        w.stop()
        crash_logs = sorted((root / "state").rglob("crash-*.log")) if (root / "state").exists() else []
        n_logs = len(crash_logs)
        shutil.rmtree(root, ignore_errors=True)
    seconds = time.perf_counter() - t0
    Path(args.out).write_text(report(rows, args, seconds, n_logs), encoding="utf-8")
    print(f"wrote {args.out} ({seconds:.0f} s)")
    return 0


def report(rows: list[dict], args, seconds: float, n_logs: int) -> str:
    def count(pred) -> int:
        return sum(1 for r in rows if pred(r))

    problems = []
    for r in rows:
        why = []
        for cmd in ("clean", "info"):
            code = r[cmd]
            if code == 70 or r[f"{cmd}_traceback"]:
                why.append(f"{cmd}: bug (exit {code}) {r[f'{cmd}_escaped'] or r[f'{cmd}_message']}")
            elif code == "hang" or str(code).startswith(("crash", "died")) or code == "escaped":
                why.append(f"{cmd}: {code}")
            elif code not in (0, 2, 3, 4):
                why.append(f"{cmd}: exit {code}")
            if r[f"{cmd}_warning"]:
                why.append(f"{cmd}: a warning reached the user")
            if r[f"{cmd}_native"]:
                why.append(f"{cmd}: decoder noise on stderr ({r[f'{cmd}_native']})")
        if r["source_changed"]:
            why.append("source changed")
        if r["leftovers"]:
            why.append("left " + ", ".join(r["leftovers"]))
        if r["output"] not in ("ok", "-"):
            why.append(r["output"])
        if why:
            problems.append((r, "; ".join(why)))

    lines = [
        "# Fuzzing the readers: damaged WAV and FLAC through clean and info",
        "",
        f"`bench/fuzz.py -n {args.n} --seed {args.seed} --timeout {args.timeout:g}`: {len(rows)} files, "
        f"{seconds:.0f} s in all ({seconds / max(1, len(rows)):.2f} s a file for both commands, in worker "
        "processes that run the CLI's `main`). Each file is one of six small valid files (0.5-2 s) with one "
        "mutation; see the script's docstring for the kinds.",
        "",
        "| outcome | count |",
        "|---|---|",
        f"| files | {len(rows)} |",
        f"| tracebacks or exit 70 (bugs) | {count(lambda r: r['clean'] == 70 or r['info'] == 70 or r['clean_traceback'] or r['info_traceback'])} |",
        f"| hangs (no answer within {args.timeout:g} s) | {count(lambda r: 'hang' in (r['clean'], r['info']))} |",
        f"| crashes of the process | {count(lambda r: any(str(r[c]).startswith(('crash', 'died')) for c in ('clean', 'info')))} |",
        f"| crash logs written | {n_logs} |",
        f"| warnings that reached the user | {count(lambda r: r['clean_warning'] or r['info_warning'])} |",
        f"| decoder noise on stderr | {count(lambda r: r['clean_native'] or r['info_native'])} |",
        f"| temporary files left behind | {count(lambda r: r['leftovers'])} |",
        f"| outputs that do not open or are another container | {count(lambda r: r['output'] not in ('ok', '-'))} |",
        f"| sources changed | {count(lambda r: r['source_changed'])} |",
        "",
        "Exit codes (0 done, 2 bad parameter, 3 input problem, 4 output problem, 70 bug) by mutation:",
        "",
        "| mutation | files | clean 0 | clean 3 | clean other | info 0 | info 3 | info other |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        cc = collections.Counter(r["clean"] for r in rs)
        ic = collections.Counter(r["info"] for r in rs)
        lines.append(f"| {kind} | {len(rs)} | {cc[0]} | {cc[3]} | {len(rs) - cc[0] - cc[3]} | {ic[0]} | {ic[3]} | "
                     f"{len(rs) - ic[0] - ic[3]} |")
    msgs = collections.Counter()
    for r in rows:
        if r["clean"] == 3:
            m = r["clean_message"].split(": ", 1)[-1]
            msgs[m.split("(")[0].strip()[:90]] += 1
    lines += ["", "Most frequent refusals by clean (exit 3), path and details stripped:", "",
              "| message | files |", "|---|---|"]
    lines += [f"| {m.replace('|', '/')} | {n} |" for m, n in msgs.most_common(8)]
    lines += ["", f"Problems ({len(problems)} file(s)); rebuild one with its index: "
              "`mutate(base, kind, is_flac, np.random.default_rng([seed, index]))`:", ""]
    if problems:
        lines += ["| # | base | mutation | what | clean | info | problem |", "|---|---|---|---|---|---|---|"]
        for r, why in problems[:60]:
            lines.append(f"| {r['i']} | {r['base']} | {r['kind']} | {r['what']} | {r['clean']} | {r['info']} | "
                         f"{why.replace('|', '/')[:220]} |")
        if len(problems) > 60:
            lines.append(f"| ... | {len(problems) - 60} more | | | | | |")
    else:
        lines.append("none")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
