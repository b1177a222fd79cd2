"""Headphone monitoring (Qt-free): output devices, the ring, the feeder, meters, resampling.

:class:`~app.audio.monitor.Monitor` is the one object the GUI binds to; sounddevice is only
imported when a device is opened.
"""

from app.audio.meters import MeterReading
from app.audio.monitor import ListenMode, Monitor, MonitorState, MonitorStats, OutputSettings

__all__ = ["ListenMode", "MeterReading", "Monitor", "MonitorState", "MonitorStats", "OutputSettings"]
