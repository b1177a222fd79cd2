"""Roomtone's DSP core: GUI-free and device-free (numpy, scipy, numba, soundfile only).

Audio is ``(channels, samples)`` float32, C-contiguous. Spectra inside the STFT engine are
``(channels, frames, bins)`` complex64 (frame-major, so streaming appends frames and the
per-bin recursions run along contiguous rows).
"""

__version__ = "0.1.0"
