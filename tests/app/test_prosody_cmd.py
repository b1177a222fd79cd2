"""``roomtone prosody``: table, findings, JSON, HTML, reference comparison, exit codes."""

from __future__ import annotations

import json
import xml.dom.minidom

import pytest

from app.cli import main

CLIPS = ("espeak_flat_stmt01.flac", "emo_happy_14.flac", "emo_sad_02.flac")


@pytest.fixture
def clips(dev_data):
    return [str(dev_data / "prosody" / n) for n in CLIPS]


def test_prosody_json_html(clips, tmp_path, capsys):
    out_json, out_html = tmp_path / "p.json", tmp_path / "p.html"
    rc = main(["prosody", *clips, "--json", str(out_json), "--html", str(out_html)])
    text = capsys.readouterr().out
    assert rc == 0
    assert "espeak_flat_stmt01.flac" in text and "Very monotone" in text and "What to do" not in text
    data = json.loads(out_json.read_text())
    ds = data["dataset"]
    assert [c["name"] for c in ds["clips"]] == list(CLIPS)
    flat = ds["clips"][0]
    assert flat["measures"]["f0_std_st"] < 1.0 and flat["pitch"]["reference"] == "clip median F0"
    vm = [f for f in ds["findings"] if f["code"] == "very_monotone"]
    assert {f["clip"] for f in vm} == {"espeak_flat_stmt01.flac", "emo_sad_02.flac"}
    assert all(f["threshold"] == 1.5 and f["advice"] for f in vm)
    assert any(f["code"] == "too_little_audio" and f["clip"] is None for f in ds["findings"])
    page = out_html.read_text()
    assert page.count("<svg") >= 4 and "Very monotone" in page and "http" not in page.split("<body>")[1].replace("http://www.w3.org/2000/svg", "")
    for svg in page.split("<svg")[1:3]:
        xml.dom.minidom.parseString("<svg" + svg.split("</svg>")[0] + "</svg>")


def test_prosody_reference_comparison(clips, dev_data, tmp_path, capsys):
    out_json = tmp_path / "c.json"
    rc = main(["prosody", clips[0], "--reference", str(dev_data / "prosody"), "--json", str(out_json), "-q"])
    assert rc == 0
    data = json.loads(out_json.read_text())
    comp = {c["measure"]: c for c in data["comparison"]}
    assert "espeak_flat_stmt01.flac" in comp["f0_std_st"]["outside"]
    assert len(data["reference"]["clips"]) == 24
    assert "Compared with 24 reference clip(s)" in capsys.readouterr().out


def test_prosody_exit_codes(clips, tmp_path, capsys):
    assert main(["prosody", clips[0], "--fail-on", "fail", "-q"]) == 1
    assert main(["prosody", clips[1], "--fail-on", "warn", "--set", "min_total_speech_s=0",
                 "--set", "recommended_total_speech_s=0", "-q"]) == 0
    assert main(["prosody", str(tmp_path / "missing.wav")]) == 3
    assert main(["prosody", clips[0], "--set", "bogus=1"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["prosody", str(empty)]) == 3
    err = capsys.readouterr().err
    assert "no audio files found" in err


@pytest.mark.parametrize("argv,text", [
    (["--detector", "bogus"], "unknown speech detector 'bogus'"),
    (["--set", "monotone_std_st=nan"], "monotone_std_st must be a finite number"),
    (["--set", "min_total_speech_s=inf"], "min_total_speech_s must be a finite number"),
])
def test_prosody_usage_mistakes_are_exit_2(clips, capsys, argv, text):
    assert main(["prosody", clips[0], *argv, "-q"]) == 2
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1


def test_reference_findings_speak_of_the_synthesis(clips, dev_data, capsys):
    assert main(["prosody", clips[0], "--reference", str(dev_data / "prosody"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "Very monotone" in out and "the synthesis sounds robotic" in out
    assert "the reference recordings of this voice span" in out
    assert "record some lines" not in out and "Too little audio for a clone" not in out
