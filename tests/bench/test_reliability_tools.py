"""The reliability matrix and the reader fuzzer: deterministic inputs, honest verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from bench import fuzz, reliability


@pytest.mark.parametrize("kind", fuzz.KINDS)
@pytest.mark.parametrize("is_flac", [False, True])
def test_fuzz_mutations_are_deterministic_and_change_the_file(tmp_path, kind, is_flac):
    name, rate, ch, fmt, sub = fuzz.BASES[3 if is_flac else 0]
    base = fuzz.base_file(tmp_path, name, rate, ch, fmt, sub, 0.5, 0).read_bytes()
    for index in range(5):
        a = fuzz.mutate(base, kind, is_flac, np.random.default_rng([19, index]))
        b = fuzz.mutate(base, kind, is_flac, np.random.default_rng([19, index]))
        assert a == b and a[0] != base, (kind, index, a[1])


def test_output_check_names_a_container_that_contradicts_the_extension(tmp_path):
    x = np.zeros((100, 1), np.float32)
    sf.write(str(tmp_path / "a.flac"), x, 16000, format="WAV")
    sf.write(str(tmp_path / "b.flac"), x, 16000, format="FLAC")
    assert reliability.output_check(tmp_path / "a.flac") == "NO: WAV in a .flac file"
    assert reliability.output_check(tmp_path / "b.flac").startswith("yes (FLAC")
    assert reliability.output_check(tmp_path / "missing.wav") == "-"


@pytest.mark.slow
def test_a_refusal_row_through_the_real_cli():
    [case] = [c for c in reliability._cases() if c.name == "output == input"]
    row = reliability.run_case(case)
    assert row["exit"] == 4 and reliability.verdict(row) == "ok", row
    assert row["source_unchanged"] == "yes" and row["leftovers"] == "none"
    bad = dict(row, exit=70)
    assert reliability.verdict(bad) == "**DEFECT**"
