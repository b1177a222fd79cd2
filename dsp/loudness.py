"""ITU-R BS.1770-4 K-weighting: the pre-filter every loudness measure here starts from.

Two biquads designed for the given sample rate (the standard gives coefficients at 48 kHz only;
these analogue prototypes are the usual bilinear-transform re-design, as in libebur128 and
pyloudnorm): a high shelf of +4 dB above about 1.7 kHz (head effects) and the RLB high pass at
about 38 Hz. Used by the monitoring meters (short-term loudness) and the batch loudness stage.
"""

from __future__ import annotations

import math

import numpy as np


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """BS.1770 K-weighting as second-order sections ``(2, 6)`` (scipy ``sosfilt`` layout)."""
    fs = float(sample_rate)
    # Stage 1: high shelf (head effects).
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
        1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0,
    ]
    # Stage 2: RLB high pass.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass], np.float64)
