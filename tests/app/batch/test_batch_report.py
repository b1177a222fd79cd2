"""The client report: level-matched pictures, honest noise floors, one mailable file, readable names."""

from __future__ import annotations

import copy
import re

import numpy as np

from app.batch.report import SpectrogramAccumulator, build_index, write_file_report
from app.batch.runner import BatchProgress, FileState
from app.commands.batch import BatchDisplay


def _report(name: str = "s01_vctk_p286__cafe_coffeeshop__snr00_noisy.wav") -> dict:
    stats = {"integrated_lufs": -29.6, "lra_lu": 6.0, "true_peak_dbtp": -8.0, "max_short_term_lufs": -25.0,
             "noise_floor_dbfs": -39.8, "speech_level_dbfs": -20.0, "snr_db": 19.8}
    after = dict(stats, integrated_lufs=-19.0, true_peak_dbtp=-1.2, noise_floor_dbfs=-35.4, speech_level_dbfs=-9.4,
                 snr_db=26.0)
    return {"file": name, "output_rel": name, "duration_s": 12.0, "sample_rate": 16000, "channels": 1,
            "format": {"source": {}, "output": "wav16"}, "before": stats, "after": after,
            "loudness": {"target": "podcast-mono", "target_lufs": -19.0, "ceiling_dbtp": -1.0, "gain_db": 10.6,
                         "limiter_max_reduction_db": 0.0},
            "clipping": {"before_samples": 0, "after_samples": 0},
            "holes": {"refill": True, "audited": True, "found": {"count": 9, "hole_rate": 0.01, "hole_time_s": 1.0},
                      "remaining": {"count": 1, "hole_rate": 0.001, "hole_time_s": 0.1}},
            "images": {}, "versions": {}}


def test_after_picture_is_level_matched(tmp_path):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((1, 16000 * 5)) * 0.01).astype(np.float32)
    gain_db = 10.6
    before, after = SpectrogramAccumulator(16000, 1, x.shape[1]), SpectrogramAccumulator(16000, 1, x.shape[1])
    before.add(x)
    after.add(x * np.float32(10 ** (gain_db / 20)))  # the same audio, only louder
    rep = _report()
    rep["before"]["integrated_lufs"], rep["after"]["integrated_lufs"] = -30.0, -30.0 + gain_db
    names = write_file_report(tmp_path, "f", rep, before, after)
    from app.spectrogram_png import decode_png

    a, b = (decode_png((tmp_path / names[k]).read_bytes()) / 255.0 for k in ("before", "after"))
    assert np.abs(a - b).mean() < 0.01  # same picture: the gain is taken off


def test_index_is_self_contained_readable_and_fair(tmp_path):
    report_dir = tmp_path / "report"
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((1, 16000 * 3)) * 0.01).astype(np.float32)
    spec = SpectrogramAccumulator(16000, 1, x.shape[1])
    spec.add(x)
    rep = _report()
    rep["images"] = write_file_report(report_dir, "slug1", rep, spec, copy.deepcopy(spec))
    html = build_index(report_dir / "index.html", title="t", reports=[("slug1", rep)], failures=[],
                       meta={"loudness_short": "Podcast"}).read_text("utf-8")
    # one mailable file: the pictures are inside it
    assert html.count('src="data:image/png;base64,') == 2 and 'src="img/' not in html
    # names wrap only after separators, never mid-word
    assert "break-all" not in html and "anywhere" not in html
    assert "s01<wbr>_<wbr>" not in html and "s01_<wbr>vctk_<wbr>p286__<wbr>cafe_<wbr>coffeeshop" in html
    # the floors are compared at the same loudness: -35.4 dBFS after a +10.6 dB gain is -46.0
    minus = "\u2212"
    assert f"{minus}39.8" in html and f"{minus}46.0" in html
    overview = html[html.index("<h2>Overview</h2>"): html.index("<h2>Files</h2>")]
    assert f"{minus}35.4" not in overview
    # the overlay legend describes what is drawn: the holes left in the output
    assert "left in the output (1)" in html and "filled with room tone" not in html


def test_de_reverb_says_which_decay_time_it_used(tmp_path):
    """A file rendered with de-reverb says in its Processing list which decay time was used, and a
    file where none was found says (as a warning) that nothing was taken out and how to set one."""
    found = {"rt60_s": 0.62, "raw_rt60_s": 0.68, "band_rt60_s": {}, "decays": 41, "analysed_s": 120.0,
             "method": "free decays after speech offsets"}
    html = {}
    for name, decay in (("found", found), ("none", dict(found, rt60_s=None, raw_rt60_s=None, decays=2)),
                        ("hand", {"rt60_s": 0.6, "method": "set by hand"}), ("off", None)):
        rep = _report()
        rep["settings"] = {"chain_render": {"room_decay": decay} if decay else {}}
        html[name] = build_index(tmp_path / name / "index.html", title="t", reports=[("s", rep)], failures=[],
                                 meta={}).read_text("utf-8")
    assert "<dt>De-reverb</dt><dd>room decay RT60 0.62 s, estimated from 41 free decays in 120 s</dd>" in html["found"]
    assert '<dd><span class="warn">no room decay found (2 free decays' in html["none"]
    assert "nothing was taken out" in html["none"] and "dereverb.rt60_s=" in html["none"]
    assert "decay time 0.60 s (set by hand)" in html["hand"]
    assert "De-reverb" not in html["off"]


def test_fully_skipped_batch_reads_100_percent():
    p = BatchProgress(files=[FileState(f"ep{i}.wav", 0.0, "skipped", fraction=1.0) for i in range(6)], started=0.0)
    assert p.fraction == 1.0
    line = BatchDisplay(stream=open("/dev/null", "w")).overall(p)
    assert "100.0%" in line and "6/6" in line and not re.search(r"\b0\.0%", line)


def test_removed_hum_is_not_drawn_as_holes(dev_data, tmp_path):
    """On a 50 Hz hum recording the notches de-hum cuts are the point, not holes to report."""
    from app.batch.worker import BatchOptions, process_job
    from app.presets import load_preset
    from tests.app.batch.conftest import DEV_FILES

    src = dev_data / DEV_FILES[0]  # s03 ... hum_50hz ... snr00
    out = tmp_path / "out" / "hum.flac"
    opts = BatchOptions(chain=load_preset("podcast").to_dict(), loudness="podcast", hole_audit=True)
    job = {"id": 0, "input": str(src), "rel": "hum.flac", "output": str(out), "output_rel": "hum.flac", "fmt": "flac16",
           "slug": "hum", "options": opts.to_dict(), "tmp_dir": str(tmp_path / "out" / "tmp"),
           "report_dir": str(tmp_path / "out" / "report")}
    res = process_job(job)
    assert res["status"] == "done", res.get("error")
    holes = res["report"]["holes"]
    assert holes["hum_bins_excluded"] > 0
    assert holes["remaining"]["count"] <= 2, holes["remaining"]  # was 7 regions over the hum's band
