"""Playback in the workstation: play/pause, stop-and-return, seek, loop, follow, Hear and solo.

The monitor (``app.audio``) plays; this controller only tells it what to do and, on the GUI
timer (``tick``, ~30 Hz), pulls its position and meters into the views (STYLE.md 9: the GUI
pulls, the audio thread never pushes into Qt). It keeps the playback state the window needs
between ticks: where a selection's playback stops, where Stop returns to.
"""

from __future__ import annotations

import logging

from dsp.chain import stage_kind
from dsp.errors import DeviceError, ParameterError, RoomtoneError

log = logging.getLogger(__name__)


class PlaybackController:
    """Transport logic of the workstation ``window`` (its monitor, transport bar and views)."""

    def __init__(self, window) -> None:
        self.window = window
        self.play_end: float | None = None  # playing a selection without loop: stop at its end
        self.play_origin: float | None = None  # where playback started (Stop returns there)
        self.return_to: float | None = None
        self.playhead_shown: float | None = None

    @property
    def monitor(self):
        return self.window.monitor

    def toggle_play(self) -> None:
        """Space / ▶: pause where you are if playing, else play from the selection or the cursor."""
        w, m = self.window, self.monitor
        if m.playing:
            self.play_end = None
            m.stop()
            return
        sel = w.session.project.selection
        has_sel = sel is not None and sel.duration_s > 0
        start = sel.start_s if has_sel else float(m.position_s)
        if w._duration() > 0 and start >= w._duration() - 1e-3:
            start = 0.0  # at the end: play from the top
        looping = has_sel and w.loop_action.isChecked() and sel.duration_s >= 0.05
        w._guard(m.set_loop, sel.start_s if looping else None, sel.end_s if looping else None)
        self.play_end = sel.end_s if has_sel and not looping else None
        self.play_origin = start
        self.return_to = None
        try:
            m.play(start)
        except DeviceError as exc:
            self.play_end = None
            w.output.show_problem(str(exc))
            return
        except RoomtoneError as exc:
            self.play_end = None
            w.report_error(exc)
            return
        if not getattr(m, "available", True):
            w.statusBar().showMessage("No audio output: monitoring is not available in this build.", 3000)
        elif getattr(m, "state", "") == "preparing":
            w.statusBar().showMessage("Preparing monitoring (room tone and whole-file analyses)… "
                                      "playback starts when ready.", 4000)

    def stop(self) -> None:
        """■: stop and return the cursor to where playback started."""
        m = self.monitor
        was_playing = bool(m.playing)
        self.play_end = None
        m.stop()
        if was_playing and self.play_origin is not None:
            self.return_to = self.play_origin  # applied once the stop fade has finished

    def seek(self, t: float) -> None:
        self.play_end = None
        self.return_to = None
        if hasattr(self.monitor, "seek"):
            self.monitor.seek(t)
        else:
            self.monitor.position_s = t

    def set_loop(self, on: bool) -> None:
        button = self.window.transport.loop_button
        button.blockSignals(True)
        button.setChecked(on)
        button.blockSignals(False)
        self.update_loop()

    def update_loop(self) -> None:
        """While playing: loop the selection now (or stop looping)."""
        w, m = self.window, self.monitor
        if not m.playing:
            return
        sel = w.session.project.selection
        if w.loop_action.isChecked() and sel is not None and sel.duration_s >= 0.05:
            self.play_end = None
            w._guard(m.set_loop, sel.start_s, sel.end_s)
        else:
            w._guard(m.set_loop, None)

    def set_follow(self, on: bool) -> None:
        self.window.transport.set_follow(on)
        self.window.settings.setValue("view/follow_playhead", bool(on))

    def restore_follow(self) -> None:
        """Follow Playhead as the user left it (on by default)."""
        w = self.window
        follow = w.settings.value("view/follow_playhead", True)
        w.follow_action.setChecked(str(follow).lower() not in ("false", "0"))
        w.transport.set_follow(w.follow_action.isChecked())

    def set_listen(self, mode: str) -> None:
        """What the headphones get: processed / original / removed / solo (the selected pass)."""
        w, m = self.window, self.monitor
        try:
            if mode == "solo":
                row = w.chain_panel.stage_list.currentRow()
                if not 0 <= row < len(w.session.project.chain.stages):
                    raise ParameterError("select the pass to solo in the Chain panel first")
                if hasattr(m, "set_solo"):
                    m.set_solo(row)
                m.set_listen("solo")
            else:
                m.set_listen(mode)
                if hasattr(m, "set_solo"):
                    m.set_solo(None)  # drop the reference chain: it costs a second render
        except RoomtoneError as exc:
            w.report_error(exc)
        w.transport.show_listen(str(getattr(m, "listen", mode)))

    def solo_target_changed(self, row: int) -> None:
        stages = self.window.session.project.chain.stages
        label = None
        if 0 <= row < len(stages):
            try:
                label = f"{row + 1}. {stage_kind(stages[row].kind).label}"
            except Exception:  # noqa: BLE001 - an unknown kind still has a name
                label = f"{row + 1}. {stages[row].kind}"
            if stages[row].bypass:
                label += " (bypassed: silent)"
        self.window.transport.set_solo_target(label)
        m = self.monitor
        if getattr(m, "listen", "") == "solo" and hasattr(m, "set_solo"):
            if label is None:
                self.set_listen("processed")
            else:
                m.set_solo(row)  # solo follows the selected pass

    def reset_clip(self) -> None:
        if hasattr(self.monitor, "clear_clip"):
            self.monitor.clear_clip()

    def tick(self) -> None:
        """One GUI-timer step: poll the monitor, stop or return where due, draw playhead and meters."""
        w, m = self.window, self.monitor
        poll = getattr(m, "poll", None)
        if poll is not None:
            try:
                poll()
            except Exception:  # noqa: BLE001 - the timer must keep running
                log.exception("monitor poll failed")
        pos = float(getattr(m, "position_s", 0.0) or 0.0)
        playing = bool(getattr(m, "playing", False))
        if not playing and self.return_to is not None:
            target, self.return_to = self.return_to, None
            self.seek(target)
            pos = target
        if playing and self.play_end is not None and pos >= self.play_end:
            self.play_end = None
            m.stop()  # the selection has been played
        has_source = w.session.project.source is not None
        self._show_playhead(round(pos, 4) if has_source else None)
        if playing and has_source and w.follow_action.isChecked():
            self._follow(pos)
        w.transport.show_state(pos, playing)
        w.transport.show_listen(str(getattr(m, "listen", "processed")))
        meters = getattr(m, "meters", None)
        w.meters.set_reading(meters() if meters is not None else None)

    def _show_playhead(self, shown: float | None) -> None:
        if shown == self.playhead_shown:
            return
        w = self.window
        self.playhead_shown = shown
        for v in (w.waveform, w.before_view, w.after_view, w.loudness_view):
            v.set_playhead(shown)
        if shown is None:
            w.overview_playhead.hide()
        else:
            w.overview_playhead.setValue(shown)
            w.overview_playhead.show()

    def _follow(self, pos: float) -> None:
        w = self.window
        (x0, x1), _ = w.waveform.vb.viewRange()
        span = x1 - x0
        if span <= 0 or span >= w._duration() - 1e-6:
            return
        if pos > x1 - 0.02 * span or pos < x0:
            a = max(0.0, min(pos - 0.02 * span, w._duration() - span))
            w.waveform.setXRange(a, a + span, padding=0)
