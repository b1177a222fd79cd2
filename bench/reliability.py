"""The reliability matrix: the real CLI against bad files, settings and targets, one row each.

Every case builds its inputs in a fresh temporary folder, runs the real command line
(``.venv/bin/python -m app.cli ...`` with that folder as the working directory; damaged
projects go through ``app.session.project.load_project``, which is what the workstation's Open
calls) and records:

===================  =========================================================================
column               meaning
===================  =========================================================================
exit                 the exit code (``roomtone --help`` documents them; 70 is a bug)
expected             the code a user should get (0, or the documented code for the mistake)
message              the first line the command printed on stderr (stdout if none)
source unchanged     SHA-256 of every source file before and after the run (``-``: no source)
leftovers            files of ours left in the folder afterwards (``*.tmp-roomtone*``, ``.*.tmp``)
output valid         the output opens with soundfile and its container matches its extension
                     (``-``: no output, which is right for a refused run)
===================  =========================================================================

Permission cases run the command as user ``nobody`` (``setpriv``) when this script runs as root,
since root reads and writes through any mode bits. Rows that show defects owned by other work
(output containers, temporary files) are reported as they are today.

Usage::

    .venv/bin/python bench/reliability.py [--out bench/results/reliability.md] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
SR = 48000
TIMEOUT_S = 300
#: Output containers by extension, as soundfile names them.
CONTAINERS = {".wav": "WAV", ".flac": "FLAC", ".mp3": "MP3", ".ogg": "OGG", ".aiff": "AIFF"}

#: Opens a project as the workstation does, mapping errors as the CLI does (70: unhandled).
OPEN_PROJECT = """
import sys
from dsp.errors import RoomtoneError
try:
    from app.session.project import load_project
    project, problems = load_project(sys.argv[1])
    print("opened" + "".join("; " + p.message for p in problems))
except RoomtoneError as exc:
    print("roomtone: error: " + " ".join(str(exc).split()), file=sys.stderr)
    sys.exit(exc.exit_code)
except Exception as exc:
    print("UNHANDLED " + type(exc).__name__ + ": " + " ".join(str(exc).split()), file=sys.stderr)
    sys.exit(70)
"""


# -- inputs ----------------------------------------------------------------------------------------
def speechy(seconds: float = 2.0, sr: int = SR, channels: int = 1, seed: int = 0) -> np.ndarray:
    """``(frames, channels)`` float32: room noise at -50 dBFS with 200 Hz bursts after 0.6 s."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    x = 10 ** (-50 / 20) * rng.standard_normal((n, channels))
    burst = 0.3 * np.sin(2 * np.pi * 200 * t) * ((t > 0.6) & ((t * 4) % 1 < 0.6))
    return (x + burst[:, None]).astype(np.float32)


def write_wav(path: Path, subtype: str = "PCM_16", seconds: float = 2.0, **kw) -> Path:
    sf.write(str(path), speechy(seconds, **kw), SR, subtype=subtype, format="WAV")
    return path


def write_flac(path: Path, seconds: float = 2.0) -> Path:
    sf.write(str(path), speechy(seconds), SR, subtype="PCM_16", format="FLAC")
    return path


def profile_json(work: Path, **damage) -> Path:
    """A profile learned from a good file, with fields replaced by ``damage``."""
    sys.path.insert(0, str(REPO))
    from dsp.roomtone import estimate_room_tone

    d = estimate_room_tone(speechy(2.0)[:, 0], SR, regions=[(0.0, 0.5)]).to_dict()
    for k, v in damage.items():
        d[k] = [v] * len(d[k]) if k in ("mean_power", "power_std") else v
    path = work / "room.json"
    path.write_text(json.dumps(d))
    return path


def project_file(work: Path, damage: Callable[[dict], None]) -> Path:
    """A saved project (source, chain, profile) with ``damage`` applied to its JSON."""
    sys.path.insert(0, str(REPO))
    from app.session.project import Project, SourceRef, save_project
    from dsp.roomtone import estimate_room_tone

    src = write_wav(work / "ep.wav")
    prof = estimate_room_tone(speechy(2.0)[:, 0], SR, regions=[(0.0, 0.5)])
    path = work / "ep.roomtone"
    save_project(Project(source=SourceRef.from_path(src), profile=prof), path)
    d = json.loads(path.read_text())
    damage(d)
    path.write_text(json.dumps(d))
    return path


def edited_streaminfo(path: Path, lo: int, hi: int) -> Path:
    data = bytearray(path.read_bytes())
    data[8:12] = struct.pack(">HH", lo, hi)
    path.write_bytes(bytes(data))
    return path


# -- cases -----------------------------------------------------------------------------------------
@dataclass
class Run:
    """What a case runs and what it touches (paths relative to the case folder)."""

    argv: list[str]
    expect: int
    sources: list[str] = field(default_factory=list)
    output: str | None = None
    as_nobody: bool = False
    project: bool = False  # argv[0] is a project file opened with load_project
    one_line: bool = True  # a refusal is exactly one line (batch reports per file and a summary)


@dataclass
class Case:
    name: str
    group: str
    build: Callable[[Path], Run]


def clean(src: str, out: str, *extra: str, expect: int = 0, **kw) -> Run:
    return Run(["clean", src, "-o", out, *extra], expect, sources=[src], output=out, **kw)


def _cases() -> list[Case]:
    C: list[Case] = []

    def case(name: str, group: str):
        def deco(fn: Callable[[Path], Run]) -> Callable[[Path], Run]:
            C.append(Case(name, group, fn))
            return fn
        return deco

    # --- baseline and output names
    @case("good 16-bit WAV -> out.wav", "output")
    def _(w):
        write_wav(w / "in.wav")
        return clean("in.wav", "out.wav")

    @case("good WAV -> out.flac (extension says FLAC)", "output")
    def _(w):
        write_wav(w / "in.wav")
        return clean("in.wav", "out.flac")

    @case("good FLAC -> out.wav (extension says WAV)", "output")
    def _(w):
        write_flac(w / "in.flac")
        return clean("in.flac", "out.wav")

    @case("good WAV -> out.mp3 (a container Roomtone does not write)", "output")
    def _(w):
        write_wav(w / "in.wav")
        return clean("in.wav", "out.mp3", expect=2)

    @case("--format flac24 -> out.wav (contradicts the extension)", "output")
    def _(w):
        write_wav(w / "in.wav")
        return clean("in.wav", "out.wav", "--format", "flac24", expect=2)

    @case("output folder missing", "output")
    def _(w):
        write_wav(w / "in.wav")
        return clean("in.wav", "nope/out.wav", expect=4)

    @case("output == input", "output")
    def _(w):
        write_wav(w / "in.wav")
        return Run(["clean", "in.wav", "-o", "in.wav"], 4, sources=["in.wav"])

    @case("output is a folder", "output")
    def _(w):
        write_wav(w / "in.wav")
        (w / "out.wav").mkdir()
        return Run(["clean", "in.wav", "-o", "out.wav"], 4, sources=["in.wav"])

    @case("output folder not writable (as nobody)", "output")
    def _(w):
        write_wav(w / "in.wav")
        (w / "ro").mkdir()
        os.chmod(w / "ro", 0o555)
        return clean("in.wav", "ro/out.wav", expect=4, as_nobody=True)

    # --- sources
    @case("source missing", "source")
    def _(w):
        return clean("missing.wav", "out.wav", expect=3)

    @case("source is a dangling symlink", "source")
    def _(w):
        (w / "in.wav").symlink_to(w / "moved-away.wav")
        return clean("in.wav", "out.wav", expect=3)

    @case("source is a folder", "source")
    def _(w):
        (w / "in.wav").mkdir()
        return clean("in.wav", "out.wav", expect=3)

    @case("source not readable (as nobody)", "source")
    def _(w):
        write_wav(w / "in.wav")
        os.chmod(w / "in.wav", 0o000)
        return clean("in.wav", "out.wav", expect=3, as_nobody=True)

    @case("empty file (0 bytes) .wav", "source")
    def _(w):
        (w / "in.wav").write_bytes(b"")
        return clean("in.wav", "out.wav", expect=3)

    @case("WAV with 0 frames", "source")
    def _(w):
        sf.write(str(w / "in.wav"), np.zeros((0, 1), np.float32), SR, subtype="PCM_16")
        return clean("in.wav", "out.wav", expect=3)

    @case("truncated WAV (header promises 2 s, 1 s present)", "source")
    def _(w):
        p = write_wav(w / "in.wav")
        p.write_bytes(p.read_bytes()[: 44 + SR * 2])
        return clean("in.wav", "out.wav", expect=3)

    @case("truncated FLAC (cut at half)", "source")
    def _(w):
        p = write_flac(w / "in.flac")
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        return clean("in.flac", "out.flac", expect=3)

    @case("garbage bytes named .wav", "source")
    def _(w):
        (w / "in.wav").write_bytes(np.random.default_rng(1).bytes(50_000))  # starts like an MPEG frame
        return clean("in.wav", "out.wav", expect=3)

    @case("garbage after a valid fLaC header", "source")
    def _(w):
        p = write_flac(w / "in.flac")
        data = bytearray(p.read_bytes())
        data[200:] = np.random.default_rng(2).bytes(len(data) - 200)
        p.write_bytes(bytes(data))
        return clean("in.flac", "out.flac", expect=3)

    @case("text file named .wav", "source")
    def _(w):
        (w / "in.wav").write_text("this is not audio\n" * 100)
        return clean("in.wav", "out.wav", expect=3)

    @case("WAV data named .flac (wrong extension)", "source")
    def _(w):
        write_wav(w / "in.flac")
        return clean("in.flac", "out.wav")

    @case("FLAC data named .wav (wrong extension)", "source")
    def _(w):
        write_flac(w / "in.wav")
        return clean("in.wav", "out.wav")

    @case("audio with an unknown extension (.txt)", "source")
    def _(w):
        write_wav(w / "in.txt")
        return clean("in.txt", "out.wav")  # read by its content, like the wrong-extension rows

    @case("FLAC with edited STREAMINFO block sizes (16-16)", "source")
    def _(w):
        edited_streaminfo(write_flac(w / "in.flac", seconds=3.0), 16, 16)
        return clean("in.flac", "out.flac")

    @case("float WAV with NaN/Inf samples", "source")
    def _(w):
        x = speechy()
        x[1000:1010] = np.nan
        x[5000] = np.inf
        sf.write(str(w / "in.wav"), x, SR, subtype="FLOAT")
        return clean("in.wav", "out.wav")

    @case("info on garbage bytes", "source")
    def _(w):
        (w / "in.wav").write_bytes(np.random.default_rng(3).bytes(10_000))
        return Run(["info", "in.wav"], 3, sources=["in.wav"])

    @case("batch: a dangling symlink among good files", "source")
    def _(w):
        (w / "season").mkdir()
        write_wav(w / "season" / "ep1.wav")
        (w / "season" / "ep2.wav").symlink_to(w / "moved-away.wav")
        (w / "delivered").mkdir()
        return Run(["batch", "season", "delivered", "--workers", "1"], 3, sources=["season/ep1.wav"], one_line=False)

    # --- profiles
    for key, value in (("hop_length", 0), ("hop_length", -512), ("n_fft", 0), ("version", "2.0"),
                       ("version", None), ("mean_power", 1e300), ("sample_rate", "48k")):
        def build(w, key=key, value=value):
            write_wav(w / "in.wav")
            profile_json(w, **{key: value})
            return clean("in.wav", "out.wav", "--profile", "room.json", expect=3)
        C.append(Case(f"profile: {key} = {json.dumps(value)}", "profile", build))

    @case("batch: profile with hop_length 0", "profile")
    def _(w):
        (w / "season").mkdir()
        write_wav(w / "season" / "ep1.wav")
        (w / "delivered").mkdir()
        profile_json(w, hop_length=0)
        return Run(["batch", "season", "delivered", "--profile", "room.json", "--workers", "1"], 3,
                   sources=["season/ep1.wav"])

    @case("profile: not JSON", "profile")
    def _(w):
        write_wav(w / "in.wav")
        (w / "room.json").write_text("{not json")
        return clean("in.wav", "out.wav", "--profile", "room.json", expect=3)

    @case("profile: file missing", "profile")
    def _(w):
        write_wav(w / "in.wav")
        return clean("in.wav", "out.wav", "--profile", "room.json", expect=3)

    @case("holes: profile with hop_length 0", "profile")
    def _(w):
        write_wav(w / "in.wav")
        profile_json(w, hop_length=0)
        return Run(["holes", "in.wav", "in.wav", "--profile", "room.json"], 3, sources=["in.wav"])

    @case("profile --learn past the end (cut at the end)", "profile")
    def _(w):
        write_wav(w / "in.wav")
        return Run(["profile", "in.wav", "--learn", "0.1-9", "-o", "room.json"], 0, sources=["in.wav"])

    @case("profile --learn after the end", "profile")
    def _(w):
        write_wav(w / "in.wav")
        return Run(["profile", "in.wav", "--learn", "5-9", "-o", "room.json"], 2, sources=["in.wav"])

    @case("profile learned on loud steady sound (speech warning)", "profile")
    def _(w):
        write_wav(w / "in.wav")
        return Run(["profile", "in.wav", "--learn", "0.6-2", "-o", "room.json"], 0, sources=["in.wav"])

    # --- projects (the workstation's Open)
    def proj(name: str, damage: Callable[[dict], None]) -> None:
        def build(w, damage=damage):
            return Run([str(project_file(w, damage))], 3, sources=["ep.wav"], project=True)
        C.append(Case(f"project: {name}", "project", build))

    proj('"chain": "x"', lambda d: d.__setitem__("chain", "x"))
    proj('"analyses": [1, 2]', lambda d: d.__setitem__("analyses", [1, 2]))
    proj('source.relative_path = 5', lambda d: d["source"].__setitem__("relative_path", 5))
    proj('"selection": [1]', lambda d: d.__setitem__("selection", [1]))
    proj('chain.mix = "x"', lambda d: d["chain"].__setitem__("mix", "x"))
    proj("profile.hop_length = 0", lambda d: d["profile"].__setitem__("hop_length", 0))
    proj('"version": "2.0"', lambda d: d.__setitem__("version", "2.0"))

    @case("project: not JSON", "project")
    def _(w):
        (w / "ep.roomtone").write_text("{")
        return Run([str(w / "ep.roomtone")], 3, project=True)

    # --- settings
    for assignment in ("gate.max_reduction_db=nan", "gate.max_reduction_db=x", "stages.-1.mix=0.5",
                       "mix=2", "nosuch=1", "stft.n_fft=1000"):
        def build(w, a=assignment):
            write_wav(w / "in.wav")
            return clean("in.wav", "out.wav", "--set", a, expect=2)
        C.append(Case(f"--set {assignment}", "settings", build))

    @case("--mix 1.5", "settings")
    def _(w):
        write_wav(w / "in.wav")
        return clean("in.wav", "out.wav", "--mix", "1.5", expect=2)

    @case("--learn 3-1 (reversed)", "settings")
    def _(w):
        write_wav(w / "in.wav")
        return clean("in.wav", "out.wav", "--learn", "3-1", expect=2)

    @case("prosody --detector bogus", "settings")
    def _(w):
        write_wav(w / "in.wav")
        return Run(["prosody", "in.wav", "--detector", "bogus"], 2, sources=["in.wav"])

    @case("prosody --set monotone_std_st=nan", "settings")
    def _(w):
        write_wav(w / "in.wav")
        return Run(["prosody", "in.wav", "--set", "monotone_std_st=nan"], 2, sources=["in.wav"])

    return C


# -- running ---------------------------------------------------------------------------------------
def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    except OSError:
        return None


def leftovers(work: Path, before: set[Path]) -> list[str]:
    out = []
    for p in work.rglob("*"):
        if p in before or "state" in p.relative_to(work).parts[:1]:
            continue
        if "tmp-roomtone" in p.name or (p.name.startswith(".") and ".tmp" in p.name):
            out.append(str(p.relative_to(work)))
    return sorted(out)


def output_check(path: Path | None) -> str:
    if path is None or not path.exists():
        return "-"
    if path.is_dir():
        return "-"
    want = CONTAINERS.get(path.suffix.lower())
    try:
        info = sf.info(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure to open is the finding
        return f"NO: unreadable ({type(exc).__name__})"
    if want is not None and info.format != want:
        return f"NO: {info.format} in a {path.suffix} file"
    return f"yes ({info.format} {info.subtype})"


def first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().replace("\r", "")
        if line and not line.startswith("roomtone: ["):  # progress bars
            line = line.removeprefix("roomtone: error: ").removeprefix("roomtone: ")
            return line
    return ""


def run_case(case: Case) -> dict:
    root = Path(tempfile.mkdtemp(prefix="roomtone-reliability-"))
    work = root / "case"
    work.mkdir()
    try:
        run = case.build(work)
        env = dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(work / "state"),
                   NUMBA_CACHE_DIR=os.environ.get("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba")))
        if run.project:
            cmd = [str(PYTHON), "-c", OPEN_PROJECT, *run.argv]
        else:
            cmd = [str(PYTHON), "-m", "app.cli", *run.argv]
        if run.as_nobody and os.geteuid() == 0:
            os.chmod(root, 0o755)
            os.chmod(work, 0o777)
            nob = work / "state"
            nob.mkdir(exist_ok=True)
            os.chmod(nob, 0o777)
            env["NUMBA_CACHE_DIR"] = str(nob / "numba")
            env["HOME"] = str(nob)
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", *cmd]
        hashes = {s: sha256(work / s) for s in run.sources}
        before = set(work.rglob("*"))
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired:
            code, out, err = "timeout", "", f"no answer within {TIMEOUT_S} s"
        seconds = time.perf_counter() - t0
        after = {s: sha256(work / s) for s in run.sources}
        unchanged = "-" if not run.sources or all(h is None for h in hashes.values()) else (
            "yes" if after == hashes else "NO")
        output = work / run.output if run.output else None
        return {
            "case": case.name, "group": case.group, "exit": code, "expected": run.expect,
            "message": first_line(err) or first_line(out), "source_unchanged": unchanged,
            "leftovers": ", ".join(leftovers(work, before)) or "none",
            "output_valid": output_check(output), "seconds": round(seconds, 1),
            "traceback": "Traceback (most recent call last)" in err + out,
            "stderr_lines": sum(1 for line in err.splitlines() if line.strip() and "\r" not in line)
            if run.one_line else 0,
        }
    finally:
        for p in root.rglob("*"):  # restore modes so the folder can be removed
            try:
                if not p.is_symlink():
                    os.chmod(p, 0o777 if p.is_dir() else 0o666)
            except OSError:
                pass
        shutil.rmtree(root, ignore_errors=True)


def verdict(row: dict) -> str:
    ok = row["exit"] == row["expected"] and not row["traceback"]
    ok = ok and row["source_unchanged"] in ("yes", "-") and row["leftovers"] == "none"
    if row["expected"] == 0:
        ok = ok and (row["output_valid"].startswith("yes") or row["output_valid"] == "-")
    else:
        ok = ok and row["output_valid"] == "-" and row["stderr_lines"] <= 1  # one line, nothing else
    return "ok" if ok else "**DEFECT**"


def markdown(rows: list[dict], seconds: float) -> str:
    def cell(v) -> str:
        text = str(v).replace("|", "\\|")
        return text if len(text) <= 140 else text[:137] + "..."

    n_bad = sum(verdict(r) != "ok" for r in rows)
    lines = [
        "# Reliability matrix",
        "",
        f"`bench/reliability.py`: {len(rows)} cases through the real CLI (`python -m app.cli` in a temporary "
        f"folder; projects through `load_project`, the workstation's Open), {seconds:.0f} s. "
        f"{n_bad} row(s) marked DEFECT: the exit code differs from the documented one, a traceback "
        "reached the user, a refused run printed more than its one line, the source changed, a temporary "
        "file was left, or the output is missing, unreadable, of another container than its extension "
        "says, or written although the run failed.",
        "",
        "| case | exit | expected | verdict | message (first line) | source unchanged | leftovers | output valid |",
        "|---|---|---|---|---|---|---|---|",
    ]
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            lines.append(f"| **{group}** | | | | | | | |")
        lines.append("| " + " | ".join(cell(x) for x in (
            r["case"], r["exit"], r["expected"], verdict(r), r["message"], r["source_unchanged"], r["leftovers"],
            r["output_valid"])) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "reliability.md"))
    ap.add_argument("--only", nargs="*", help="run only cases whose name contains one of these")
    args = ap.parse_args(argv)
    cases = [c for c in _cases() if not args.only or any(s in c.name for s in args.only)]
    t0 = time.perf_counter()
    rows = []
    for c in cases:
        row = run_case(c)
        rows.append(row)
        print(f"{verdict(row):10s} {row['exit']!s:>7} {c.name}: {row['message'][:90]}", flush=True)
    text = markdown(rows, time.perf_counter() - t0)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
