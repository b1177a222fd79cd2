"""A streaming polyphase resampler for the monitor's feeder (file rate -> device rate).

Algorithm: rational ratio ``up/down`` (reduced), the same Kaiser-windowed low-pass that
``scipy.signal.resample_poly`` designs (``firwin(2*10*max(up, down) + 1, 1/max(up, down),
window=("kaiser", 5.0))``), applied zero-phase in absolute sample indices: output sample ``m``
is centred on input time ``m * down / up``::

    y[m] = up * sum_i h[c + m*down - i*up] * x[i],     c = (len(h) - 1) / 2

so a stream cut into any blocks gives the same output as one call on the whole signal (and, in
the interior, the same as ``resample_poly``). The resampler keeps the input history it needs;
:meth:`StreamingResampler.rewind` forgets input from a given sample on, so the monitor can
replace not-yet-played audio and carry on with the filter's memory intact. Equal rates are an
exact pass-through (bit for bit). Units: samples; audio ``(channels, samples)`` float32.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import firwin

from dsp.jit import realtime_kernel


@realtime_kernel
def _polyphase(x, x0, h, up, down, c, m0, out):  # pragma: no cover - compiled
    # x: (channels, n) input whose column 0 is absolute sample x0; out: (channels, n_out)
    # for absolute outputs m0 .. m0 + n_out - 1. Accumulates in float64.
    c_n, n_in = x.shape
    n_out = out.shape[1]
    taps = h.shape[0]
    for ch in range(c_n):
        for j in range(n_out):
            centre = (m0 + j) * down + c
            i = centre // up
            idx = centre - i * up
            acc = 0.0
            while idx < taps and i >= x0:
                k = i - x0
                if k < n_in:
                    acc += h[idx] * x[ch, k]
                i -= 1
                idx += up
            out[ch, j] = acc * up


def design_filter(up: int, down: int) -> np.ndarray:
    """The anti-aliasing low-pass ``scipy.signal.resample_poly`` uses for ``up/down``."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    return (h / h.sum()).astype(np.float64)  # unity DC gain per phase after the * up


class StreamingResampler:
    """Resample a stream from ``in_rate`` to ``out_rate``, state carried across blocks.

    Feed input with :meth:`push` (absolute input positions advance by the block length);
    each call returns the outputs that became computable, ``(channels, n)`` float32, whose
    first sample is output index :attr:`next_out` before the call.
    """

    def __init__(self, in_rate: int, out_rate: int, channels: int, *, history: int = 1 << 16) -> None:
        g = math.gcd(int(in_rate), int(out_rate))
        self.up = int(out_rate) // g
        self.down = int(in_rate) // g
        self.channels = int(channels)
        self.identity = self.up == self.down
        self.h = np.ones(1) if self.identity else design_filter(self.up, self.down)
        self.c = (len(self.h) - 1) // 2
        self._history = int(history)
        self.reset(0)

    @property
    def lookahead(self) -> int:
        """Input samples beyond an output's centre needed to compute it."""
        return 0 if self.identity else -(-self.c // self.up)

    def out_index(self, in_index: int) -> int:
        """First output whose centre time is at or after input sample ``in_index``."""
        return -(-in_index * self.up // self.down)

    def reset(self, in_position: int = 0) -> None:
        """Start afresh: next input is ``in_position``; the past is silence."""
        self._x = np.zeros((self.channels, 0), np.float32)
        self._x0 = in_position
        self.next_out = self.out_index(in_position)

    @property
    def in_end(self) -> int:
        """Absolute index of the next input sample :meth:`push` expects."""
        return self._x0 + self._x.shape[1]

    def rewind(self, in_position: int) -> int:
        """Forget input from ``in_position`` on; returns the first output to be recomputed.

        Outputs before it stay as already produced; the filter keeps its memory of the input
        before ``in_position`` (as long as it is within the history kept).
        """
        if self.identity:
            self._x0 = in_position
            self.next_out = in_position
            return in_position
        if not self._x0 <= in_position <= self.in_end:
            raise ValueError(
                f"cannot rewind to input {in_position}: history holds [{self._x0}, {self.in_end})"
            )
        self._x = self._x[:, : in_position - self._x0]
        self.next_out = self.out_index(in_position)
        return self.next_out

    def push(self, block: np.ndarray) -> np.ndarray:
        """Append ``(channels, n)`` input; return the outputs that can now be computed."""
        if self.identity:
            self._x0 += block.shape[1]
            self.next_out += block.shape[1]
            return block
        self._x = np.concatenate([self._x, np.asarray(block, np.float32)], axis=1)
        # Output m needs input up to floor((m*down + c) / up) inclusive.
        last_in = self.in_end - 1
        m_end = (last_in * self.up - self.c) // self.down + 1  # outputs [next_out, m_end)
        n_out = max(0, m_end - self.next_out)
        out = np.zeros((self.channels, n_out), np.float32)
        if n_out:
            _polyphase(self._x, self._x0, self.h, self.up, self.down, self.c, self.next_out, out)
            self.next_out += n_out
        # Keep what the next outputs need plus `history` samples for rewinds.
        need_from = (self.next_out * self.down + self.c - len(self.h) + 1) // self.up - self._history
        drop = need_from - self._x0
        if drop > self._x.shape[1] // 2 and drop > 0:
            self._x = np.ascontiguousarray(self._x[:, drop:])
            self._x0 += drop
        return out

    def flush_length(self) -> int:
        """Zero input samples to push so every output up to the current input end is computed."""
        return 0 if self.identity else self.lookahead + 1
