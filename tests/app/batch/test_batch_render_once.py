"""A batch file with loudness and report is rendered once, and no temporary file outgrows the output."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.batch.worker import BatchOptions, process_job
from app.presets import load_preset


class _Largest:
    """The largest file seen under ``folder`` (polled every 20 ms) other than the output's own atomic write."""

    def __init__(self, folder: Path, output: Path) -> None:
        self.folder, self.output, self.size = folder, output, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            for p in self.folder.rglob("*"):
                try:
                    if p.is_file() and p.suffix not in (".json", ".png") and p != self.output \
                            and not p.name.startswith(f".{self.output.name}."):
                        self.size = max(self.size, p.stat().st_size)
                except OSError:
                    pass

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.size


@pytest.mark.slow
def test_one_render_one_gain_pass_small_temporaries(dev_data, tmp_path, monkeypatch):
    import app.pipeline
    import dsp.render

    renders, passes = [], []
    real_render, real_gain = dsp.render.render_file, app.pipeline.write_loudness
    monkeypatch.setattr(app.pipeline, "render_file", lambda *a, **k: renders.append(1) or real_render(*a, **k))
    monkeypatch.setattr(app.pipeline, "write_loudness", lambda *a, **k: passes.append(1) or real_gain(*a, **k))
    src = dev_data / "podcast" / "podcast_dev_2min_noisy.flac"
    out = tmp_path / "out" / "episode.flac"
    opts = BatchOptions(chain=load_preset("podcast").to_dict(), loudness="podcast", hole_audit=False)
    job = {"id": 0, "input": str(src), "rel": "episode.flac", "output": str(out), "output_rel": "episode.flac",
           "fmt": "flac16", "slug": "episode", "options": opts.to_dict(), "tmp_dir": str(tmp_path / "out" / "tmp"),
           "report_dir": str(tmp_path / "out" / "report")}
    watch = _Largest(tmp_path / "out", out)
    res = process_job(job)
    largest = watch.stop()
    assert res["status"] == "done", res.get("error")
    rep = res["report"]
    assert rep["loudness"]["limiter_max_reduction_db"] > 0  # the limiter acted on this file
    assert abs(rep["after"]["integrated_lufs"] - (-19.0)) <= 0.3
    assert len(renders) == 1  # the chain is rendered once
    assert 1 <= len(passes) <= 2  # one gain pass (a second only if the limiter took > 0.2 LU); it was 3
    assert 0 < largest <= out.stat().st_size, (largest, out.stat().st_size)  # was a float32 WAV, 2.7x the output
    assert not (tmp_path / "out" / "tmp").exists()
