"""Human-written labels and units for every chain setting, in one place.

The chain panel shows these instead of anything derived from the settings' field names
("SNR smoothing", not "Snr smoothing"). Keys are the settings dataclass field names of
``dsp.chain.registry()`` (and the stage kinds that register themselves from ``models``); a
name means the same thing in every stage that has it. A test checks that every registered
setting has an entry, so a new setting cannot appear in the panel without a written label.

:func:`human_text` rewrites a stage description or tooltip that mentions a setting by its
key (``max_reduction_db``) into the label the panel shows for it ("Max reduction").
"""

from __future__ import annotations

import re

#: setting name -> (label shown in the chain panel, unit suffix shown in its field; "" = none)
SETTING_LABELS: dict[str, tuple[str, str]] = {
    # spectral gates (room-tone gate, adaptive MMSE) and the ML pass
    "max_reduction_db": ("Max reduction", " dB"),
    "over_subtraction_db": ("Over-subtraction", " dB"),
    "snr_smoothing": ("SNR smoothing", ""),
    "gain_exponent": ("Gain exponent", ""),
    "attack_ms": ("Attack", " ms"),
    "release_ms": ("Release", " ms"),
    "frequency_smoothing_hz": ("Frequency smoothing", " Hz"),
    "keep_snr_db": ("Keep bins above SNR", " dB"),
    "speech_presence": ("Speech-presence floor", ""),
    "presence_low_snr_db": ("Presence: no speech below", " dB"),
    "presence_high_snr_db": ("Presence: speech above", " dB"),
    "presence_smoothing_hz": ("Presence band width", " Hz"),
    "presence_time_ms": ("Presence smoothing time", " ms"),
    "frame_presence": ("Whole-frame presence", ""),
    "frame_presence_snr_db": ("Whole-frame presence SNR", " dB"),
    "speech_gain_exponent": ("Gain exponent in speech", ""),
    "preroll_ms": ("Pre-roll", " ms"),
    "speech_prior_snr_db": ("Speech SNR (noise tracker)", " dB"),
    "noise_tracking_ms": ("Noise tracking time", " ms"),
    "min_prior_snr_db": ("Lowest a-priori SNR", " dB"),
    "use_profile": ("Start from the room tone", ""),
    "max_noise_rise_db": ("Max noise rise over room tone", " dB"),
    "backend": ("Backend", ""),
    # de-hum
    "mains_hz": ("Mains frequency", ""),
    "max_frequency_hz": ("Highest harmonic", " Hz"),
    "threshold_db": ("Harmonic threshold", " dB"),
    "confirm_db": ("Confirm threshold", " dB"),
    "min_harmonics": ("Harmonics needed", ""),
    "tolerance_percent": ("Frequency tolerance", " %"),
    "bandwidth_hz": ("Notch width", " Hz"),
    "depth": ("Depth (0-1)", ""),
    "analysis_s": ("Analysed length", " s"),
    # de-reverb
    "amount_percent": ("Amount", " %"),
    "max_suppression_db": ("Max suppression", " dB"),
    "rt60_s": ("Room decay time RT60 (0 = estimate)", " s"),
    "late_start_ms": ("Late reverb from", " ms"),
    # speaker leveler
    "target_spread_lu": ("Target spread", " LU"),
    "max_gain_up_db": ("Max gain up", " dB"),
    "max_gain_down_db": ("Max gain down", " dB"),
    "rate_db_per_s": ("Gain speed in long phrases", " dB/s"),
    "long_phrase_s": ("Long phrase from", " s"),
    "min_pause_ms": ("Shortest pause", " ms"),
    "min_phrase_ms": ("Shortest phrase", " ms"),
    "pause_floor_margin_db": ("Pause floor margin", " dB"),
    # breath control
    "reduction_db": ("Reduction", " dB"),
    "gate_to_room_tone": ("Lower to the room tone instead", ""),
    "min_breath_ms": ("Shortest breath", " ms"),
    "max_breath_ms": ("Longest breath", " ms"),
    "below_speech_db": ("Under the speech by at least", " dB"),
    "min_rise_db": ("Over the room tone by at least", " dB"),
    "max_periodicity": ("Most voicing (periodicity 0-1)", ""),
    "min_flatness": ("Least spectral flatness (0-1)", ""),
    "ramp_ms": ("Ramp", " ms"),
    # de-esser
    "threshold_over_typical_db": ("Threshold over the voice's typical level", " dB"),
    "typical_percentile": ("Typical level (percentile)", " %"),
    "band_low_hz": ("Sibilance band from", " Hz"),
    "band_high_hz": ("Sibilance band to", " Hz"),
    "min_share_percent": ("Least band share of a frame", " %"),
    # hole refill
    "source": ("Fill with", ""),
    "margin_db": ("Margin under the floor", " dB"),
    "smoothing_octaves": ("Shape smoothing", " oct"),
    "cap_to_input": ("Never louder than the input", ""),
    "low_hz": ("Lowest frequency", " Hz"),
    "high_hz": ("Highest frequency (0 = Nyquist)", " Hz"),
    "bed": ("Room-tone bed", ""),
    "bed_db": ("Bed level", " dB"),
    "seed": ("Random seed", ""),
    "decorrelate_channels": ("Independent noise per channel", ""),
    "pause_level_db": ("Fill level in pauses", " dB"),
    "pause_snr_db": ("Pause below SNR", " dB"),
    "speech_snr_db": ("Speech above SNR", " dB"),
    "presence_release_ms": ("Speech release", " ms"),
    # EQ match
    "max_boost_db": ("Max boost", " dB"),
    "speech_margin_db": ("Speech above room tone by", " dB"),
    "speech_snr": ("Speech-to-room-tone ratio", " ×"),
    "analysis_seconds": ("Analysed length", " s"),
    # mouth de-click (issue 23)
    "click_threshold_db": ("Click threshold over the error level", " dB"),
    "pitch_isolation_db": ("Click over the pitch pulses by", " dB"),
    "onset_guard_db": ("Onset guard (p, t, k, fricatives)", " dB"),
    "max_click_ms": ("Longest click", " ms"),
    "ar_order": ("AR model order", ""),
    "context_ms": ("Repair context each side", " ms"),
    # de-plosive (issue 23)
    "pop_ratio_db": ("Pop: low/high ratio over the voice's", " dB"),
    "pop_level_db": ("Pop: low band over the voice's", " dB"),
    "pop_jump_db": ("Pop: low-band jump", " dB"),
    "cutoff_hz": ("High-pass cutoff", " Hz"),
    "max_pop_ms": ("Longest pop", " ms"),
    # band dry/wet
    "crossover_hz": ("Crossover", " Hz"),
    "mix_below": ("Wet below crossover (0-1)", ""),
    "mix_above": ("Wet above crossover (0-1)", ""),
    "transition_octaves": ("Transition width", " oct"),
}


def setting_label(name: str) -> tuple[str, str]:
    """(label, unit suffix) of setting ``name``; unknown names are shown as they are, unitless."""
    return SETTING_LABELS.get(name, (name, ""))


_KEY = re.compile(r"\b([a-z][a-z0-9]*(?:_[a-z0-9]+)+)\b")


def human_text(text: str) -> str:
    """``text`` with setting keys (``max_reduction_db``) replaced by their quoted labels and
    numpydoc's literal quotes (double backticks) dropped."""

    def label(m: re.Match) -> str:
        key = m.group(1)
        return f"“{SETTING_LABELS[key][0]}”" if key in SETTING_LABELS else m.group(0)

    return _KEY.sub(label, (text or "").replace("``", ""))
