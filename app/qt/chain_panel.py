"""The chain panel: presets, the ordered passes, per-pass settings, the output mix.

Model first (STYLE.md 1): every control writes through a :class:`~app.session.Session` mutator
and :meth:`ChainPanel.set_project` echoes the Project back into the widgets with their signals
blocked, so the panel never holds its own truth. Slider drags coalesce into one undo step
(``coalesce=True`` while dragging, ``Session.end_coalescing`` on release).

Per-pass settings forms are generated from each stage kind's frozen ``Settings`` dataclass
(``dsp.chain.registry()``): labels and units are written by hand in
:data:`app.qt.setting_labels.SETTING_LABELS` (never derived from field names), slider ranges
follow the field-name suffix (``_db``, ``_ms``, ``_hz``, ``_s``, ``_octaves``), tooltips come
from the class docstring's numpydoc ``Attributes`` section, choices from a module constant
named after the field (``source`` -> ``SOURCES``). Stage descriptions that mention a setting by
its key show its label instead (:func:`app.qt.setting_labels.human_text`).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QScrollArea,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.presets import list_presets, save_user_preset
from app.qt.setting_labels import human_text, setting_label
from app.session import loudness_label, loudness_menu
from dsp.chain import registry
from dsp.errors import RoomtoneError
from dsp.schema import field_schema, schemas

#: field-name suffix -> the unit in words, for tooltips (the unit shown is in SETTING_LABELS)
UNIT_WORDS = {
    "_dbfs": "decibels relative to full scale",
    "_db": "decibels",
    "_ms": "milliseconds",
    "_hz": "hertz",
    "_s": "seconds",
    "_octaves": "octaves",
    "_pct": "percent",
    "_percent": "percent",
}

def unit_words(name: str) -> str:
    """The unit of a settings field in words ("decibels"), from its name's suffix ("" if none)."""
    for suffix, words in UNIT_WORDS.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return words
    return ""


def field_docs(cls: type) -> dict[str, str]:
    """Field descriptions from a numpydoc ``Attributes``/``Parameters`` section of ``cls``."""
    doc = cls.__doc__ or ""
    out: dict[str, str] = {}
    lines = doc.expandtabs().splitlines()
    names: list[str] = []
    buf: list[str] = []

    def flush():
        if names and buf:
            text = " ".join(s.strip() for s in buf)
            for n in names:
                out[n] = text

    for line in lines:
        m = re.match(r"^\s{0,4}([A-Za-z_][\w, ]*?)\s*:\s*[\w\[\]|. ]+$", line)
        if m and not line.startswith("        "):
            flush()
            names = [n.strip() for n in m.group(1).split(",")]
            buf = []
        elif names and line.strip() and not set(line.strip()) <= {"-"}:
            buf.append(line)
        elif not line.strip():
            continue
    flush()
    return out


def field_range(name: str, default: Any, sample_rate: int = 48000, cls: type | None = None) -> tuple[float, float]:
    """Slider range for a numeric field: its schema's (:func:`dsp.schema.setting`) where the
    settings class declares one, so the slider offers exactly what the settings accept; else from
    its unit and default."""
    schema = field_schema(cls, name) if cls is not None else None
    if schema is not None and schema.lo is not None and schema.hi is not None:
        hi = schema.hi - (0.001 if schema.hi_open else 0.0)
        if name.endswith("_hz"):
            hi = min(hi, sample_rate / 2) if hi > schema.lo + 1 else hi
        return float(schema.lo), float(hi)
    d = float(default)
    if name.endswith("_dbfs"):
        return -120.0, 0.0
    if name.endswith("_db"):
        return (-60.0, 20.0) if d < 0 else (0.0, max(30.0, 2 * d))
    if name.endswith("_ms"):
        return 0.0, max(1000.0, 4 * d)
    if name.endswith("_hz"):
        return 0.0, sample_rate / 2
    if name.endswith("_s"):
        return 0.0, max(10.0, 4 * d)
    if name.endswith("_octaves"):
        return 0.0, 2.0
    if 0.0 <= d <= 1.0 and isinstance(default, float):
        return 0.0, 1.0
    return min(0.0, 4 * d), max(1.0, 4 * d)


def field_value_choices(cls: type, name: str) -> dict | None:
    """A numeric field's fixed values and their labels: the module constant ``NAME_CHOICES``
    (``{value: label}``, e.g. ``dsp.dehum.MAINS_HZ_CHOICES``), or None for a range."""
    schema = field_schema(cls, name)
    if schema is not None and schema.choices and all(isinstance(c, (int, float)) for c in schema.choices):
        labels = schema.labels or tuple(f"{c:g} {schema.unit}".strip() for c in schema.choices)
        return dict(zip(schema.choices, labels, strict=True))
    mod = sys.modules.get(cls.__module__)
    value = getattr(mod, name.upper() + "_CHOICES", None) if mod else None
    if isinstance(value, dict) and value and all(isinstance(k, (int, float)) for k in value):
        return dict(value)
    return None


def field_choices(cls: type, name: str) -> list[str] | None:
    """A text field's allowed values: its schema's choices, or the module constant ``NAMES``."""
    schema = field_schema(cls, name)
    if schema is not None and schema.choices and all(isinstance(c, str) for c in schema.choices):
        return list(schema.choices)
    mod = sys.modules.get(cls.__module__)
    value = getattr(mod, name.upper() + "S", None) if mod else None
    if isinstance(value, (tuple, list, dict, set, frozenset)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


class ValueSlider(QWidget):
    """A slider with a spin box: drags coalesce; ``edited(value, final)`` reports changes."""

    edited = Signal(float, bool)

    STEPS = 1000

    def __init__(self, lo: float, hi: float, *, decimals: int = 2, suffix: str = "", integer: bool = False,
                 parent=None) -> None:
        super().__init__(parent)
        self.lo, self.hi, self.integer = lo, hi, integer
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, self.STEPS)
        self.spin = QSpinBox() if integer else QDoubleSpinBox()
        if not integer:
            self.spin.setDecimals(decimals)
            self.spin.setSingleStep(10 ** -decimals * 10 if decimals else 1)
        span = hi - lo
        self.spin.setRange(int(lo - 10 * span) if integer else lo - 10 * span, int(hi + 10 * span) if integer else hi + 10 * span)
        self.spin.setSuffix(suffix)
        self.spin.setKeyboardTracking(False)
        self.spin.setFixedWidth(96)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.spin)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderReleased.connect(lambda: self.edited.emit(self.value(), True))
        self.spin.valueChanged.connect(lambda v: self.edited.emit(float(v), True))

    def setToolTip(self, text: str) -> None:  # noqa: N802 - Qt naming
        super().setToolTip(text)
        self.slider.setToolTip(text)
        self.spin.setToolTip(text)

    def value(self) -> float:
        return float(self.spin.value())

    def set_value(self, v: float) -> None:
        """Echo a model value without emitting ``edited``."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        try:
            self.spin.setValue(int(round(v)) if self.integer else float(v))
            pos = (float(v) - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0
            self.slider.setValue(int(round(min(1.0, max(0.0, pos)) * self.STEPS)))
        finally:
            for w in (self.slider, self.spin):
                w.blockSignals(False)

    def _slider_moved(self, pos: int) -> None:
        v = self.lo + (self.hi - self.lo) * pos / self.STEPS
        if self.integer:
            v = round(v)
        self.spin.blockSignals(True)
        self.spin.setValue(int(v) if self.integer else v)
        self.spin.blockSignals(False)
        self.edited.emit(float(v), not self.slider.isSliderDown())


class ChainPanel(QWidget):
    """Presets, passes (add/remove/reorder/bypass), per-pass settings and the output mix.

    What is heard is chosen in the transport (Hear); what is exported, in the export dialog.
    """

    errorRaised = Signal(object)

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self._project = None
        self._structure: tuple | None = None
        self._field_widgets: dict[str, Any] = {}
        self._sample_rate = 48000
        root = QVBoxLayout(self)
        root.setContentsMargins(8, 8, 8, 8)
        root.setSpacing(8)
        self._build_presets(root)
        self._build_stages(root)
        self._build_pass_settings(root)
        self._build_output(root)
        self._populate_add_menu()
        self._populate_presets()
        self.set_project(session.project)

    def _build_presets(self, root: QVBoxLayout) -> None:
        row = QHBoxLayout()
        row.addWidget(QLabel("Preset"))
        self.preset_combo = QComboBox()
        self.preset_combo.setToolTip("Load a saved chain: its passes, their settings and the output mix. "
                                     "Loading is one undo step.")
        self.preset_combo.activated.connect(self._preset_chosen)
        row.addWidget(self.preset_combo, 1)
        self.save_preset_button = QToolButton()
        self.save_preset_button.setText("Save…")
        self.save_preset_button.setToolTip("Save the current chain as a user preset for other episodes of the show.")
        self.save_preset_button.clicked.connect(self._save_preset)
        row.addWidget(self.save_preset_button)
        root.addLayout(row)

    def _build_stages(self, root: QVBoxLayout) -> None:
        box = QGroupBox("Passes (processed top to bottom)")
        bl = QVBoxLayout(box)
        self.stage_list = QListWidget()
        self.stage_list.setToolTip("The processing chain, in order. Untick a pass to bypass it "
                                   "(it is kept with its settings but does not touch the audio).")
        self.stage_list.setMinimumHeight(110)
        self.stage_list.setMaximumHeight(170)
        self.stage_list.itemChanged.connect(self._item_toggled)
        self.stage_list.currentRowChanged.connect(self._row_changed)
        bl.addWidget(self.stage_list)
        buttons = QHBoxLayout()
        self.add_button = QToolButton()
        self.add_button.setText("Add pass ▾")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.add_button.setToolTip("Insert a new pass after the selected one (denoise pass, de-hum, refill, ...).")
        self.add_menu = QMenu(self.add_button)
        self.add_button.setMenu(self.add_menu)
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove")
        self.remove_button.setToolTip("Delete the selected pass from the chain.")
        self.up_button = QToolButton()
        self.up_button.setText("▲")
        self.up_button.setToolTip("Move the selected pass earlier in the chain (it then processes before the one above).")
        self.down_button = QToolButton()
        self.down_button.setText("▼")
        self.down_button.setToolTip("Move the selected pass later in the chain.")
        self.remove_button.clicked.connect(self._remove)
        self.up_button.clicked.connect(lambda: self._move(-1))
        self.down_button.clicked.connect(lambda: self._move(+1))
        for b in (self.add_button, self.remove_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.up_button)
        buttons.addWidget(self.down_button)
        bl.addLayout(buttons)
        root.addWidget(box)

    def _build_pass_settings(self, root: QVBoxLayout) -> None:
        """The selected pass's description and settings form (filled by set_project)."""
        self.stage_box = QGroupBox("Pass settings")
        sl = QVBoxLayout(self.stage_box)
        self.stage_description = QLabel("")
        self.stage_description.setObjectName("hint")
        self.stage_description.setWordWrap(True)
        sl.addWidget(self.stage_description)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form_host)
        scroll.setMinimumHeight(130)  # room for the Output group's loudness row on a 1280x800 screen
        sl.addWidget(scroll, 1)
        root.addWidget(self.stage_box, 1)

    def _build_output(self, root: QVBoxLayout) -> None:
        """The whole chain's output: dry/wet, the reduction cap, refill, speech, strength, loudness."""
        out = QGroupBox("Output")
        of = QFormLayout(out)
        self.mix_slider = ValueSlider(0.0, 100.0, decimals=0, suffix=" %")
        self.mix_slider.setToolTip("Dry/wet mix of the whole chain: 100 % is fully processed, lower values blend "
                                   "the original back in (latency-aligned) for a more natural result.")
        self.mix_slider.edited.connect(lambda v, final: self._set_chain("mix", v / 100.0, final))
        of.addRow("Dry/wet", self.mix_slider)
        self.cap_slider = ValueSlider(0.0, 40.0, decimals=1, suffix=" dB")
        self.cap_slider.setToolTip("Maximum total reduction of all passes together: no time-frequency bin is "
                                   "ever attenuated by more than this. Keeps the room tone alive.")
        self.cap_slider.edited.connect(lambda v, final: self._set_chain("max_total_reduction_db", v, final))
        of.addRow("Max reduction", self.cap_slider)
        self.refill_check = QCheckBox("Refill spectral holes with room tone")
        self.refill_check.setToolTip("Fill time-frequency regions the passes pushed below the room's natural "
                                     "floor with shaped room tone, so pauses never sound 'sucked out'.")
        self.refill_check.clicked.connect(self._toggle_refill)
        of.addRow(self.refill_check)  # the whole row: a narrow panel must not clip it
        self.speech_check = QCheckBox("Tell speech from noise events")
        self.speech_check.setToolTip("The small voice activity model decides where speech is, so clinks, knocks "
                                     "and crackle in the background are reduced like the rest of it instead of "
                                     "passing as speech. It runs beside the render: about 7 s of one core per hour of audio.")
        self.speech_check.clicked.connect(
            lambda on: self._call(self.session.set_chain_field, "speech.detector", "vad" if on else "none"))
        of.addRow(self.speech_check)
        self.strength_check = QCheckBox("Adapt the passes' strength to the noise (SNR)")
        self.strength_check.setToolTip("Measure the recording's signal-to-noise ratio and let each pass go from "
                                       "a light 6 dB (mild noise) up to its Max reduction (heavy noise); the "
                                       "caps you set are never exceeded.")
        self.strength_check.clicked.connect(
            lambda on: self._call(self.session.set_chain_field, "strength.adaptive", bool(on)))
        of.addRow(self.strength_check)
        self.loudness_combo = QComboBox()
        for name in loudness_menu():
            self.loudness_combo.addItem(loudness_label(name), name)
        self.loudness_combo.setToolTip("Loudness of the exported file: after the chain, a gain to this integrated "
                                       "loudness (ITU-R BS.1770) and a true-peak limiter at -1 dBTP. Measured on "
                                       "the whole file when exporting; saved with the project. Headphone monitoring plays "
                                       "the chain without this gain (it needs the whole file), so an export with a "
                                       "target can sound louder than playback.")
        self.loudness_combo.activated.connect(
            lambda i: self._call(self.session.set_loudness, self.loudness_combo.itemData(i)))
        of.addRow("Loudness", self.loudness_combo)
        root.addWidget(out)

    # -- echo -------------------------------------------------------------------------------
    def set_sample_rate(self, sample_rate: int) -> None:
        if sample_rate != self._sample_rate:
            self._sample_rate = sample_rate
            self._structure = None

    def set_project(self, project) -> None:
        """Show ``project``'s chain (signals blocked: nothing is written back)."""
        self._project = project
        chain = project.chain
        structure = tuple((s.kind, type(s.settings).__name__) for s in chain.stages)
        current = max(0, self.stage_list.currentRow())
        self.stage_list.blockSignals(True)
        try:
            if structure != self._structure:
                self.stage_list.clear()
                for _ in chain.stages:
                    item = QListWidgetItem()
                    item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                    self.stage_list.addItem(item)
            for i, spec in enumerate(chain.stages):
                item = self.stage_list.item(i)
                kind = registry().get(spec.kind)
                label = kind.label if kind else spec.kind
                mix = "" if spec.mix >= 1.0 else f"  ·  {spec.mix:.0%} wet"
                item.setText(f"{i + 1}.  {label}{mix}")
                item.setCheckState(Qt.CheckState.Unchecked if spec.bypass else Qt.CheckState.Checked)
                item.setToolTip(human_text(kind.description if kind else "") + "\nUntick to bypass this pass.")
            if chain.stages:
                self.stage_list.setCurrentRow(min(current, len(chain.stages) - 1))
        finally:
            self.stage_list.blockSignals(False)
        if structure != self._structure:
            self._structure = structure
            self._build_form()
        self._echo_form()
        self.mix_slider.set_value(chain.mix * 100.0)
        self.cap_slider.set_value(chain.max_total_reduction_db)
        refill = [s for s in chain.stages if s.kind == "refill"]
        self.refill_check.setEnabled("refill" in registry())
        self.refill_check.setChecked(bool(refill) and not all(s.bypass for s in refill))
        self.speech_check.setChecked(chain.speech.detector != "none")
        self.strength_check.setChecked(chain.strength.adaptive)
        self.loudness_combo.blockSignals(True)
        self.loudness_combo.setCurrentIndex(max(0, self.loudness_combo.findData(project.loudness)))
        self.loudness_combo.blockSignals(False)
        self.preset_combo.blockSignals(True)
        idx = self.preset_combo.findText(chain.name)
        if idx < 0:
            self.preset_combo.setCurrentIndex(-1)
            self.preset_combo.setPlaceholderText(chain.name or "custom")
        else:
            self.preset_combo.setCurrentIndex(idx)
        self.preset_combo.blockSignals(False)
        self._update_buttons()

    def _update_buttons(self) -> None:
        n = self.stage_list.count()
        row = self.stage_list.currentRow()
        self.remove_button.setEnabled(0 <= row < n)
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < n - 1)

    def _populate_add_menu(self) -> None:
        self.add_menu.clear()
        for name, kind in sorted(registry().items(), key=lambda kv: (kv[1].role, kv[1].label)):
            act = self.add_menu.addAction(f"{kind.label}")
            act.setToolTip(human_text(kind.description))
            act.setStatusTip(human_text(kind.description))
            act.triggered.connect(lambda _=False, n=name: self._add(n))
        self.add_menu.setToolTipsVisible(True)

    def _populate_presets(self) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        for name in sorted(list_presets()):
            self.preset_combo.addItem(name)
        self.preset_combo.blockSignals(False)

    # -- the per-stage form -----------------------------------------------------------------
    def _build_form(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self._field_widgets = {}
        row = self.stage_list.currentRow()
        chain = self._project.chain if self._project else None
        if chain is None or not 0 <= row < len(chain.stages):
            self.stage_box.setTitle("Pass settings")
            self.stage_description.setText("Select a pass to edit its settings.")
            return
        spec = chain.stages[row]
        kind = registry().get(spec.kind)
        cls = type(spec.settings)
        self.stage_box.setTitle(f"{kind.label if kind else spec.kind} settings")
        self.stage_description.setText(human_text(kind.description) if kind else "")
        docs = {**field_docs(cls), **{n: s.doc for n, s in schemas(cls).items() if s.doc}}
        mix = ValueSlider(0.0, 100.0, decimals=0, suffix=" %")
        mix.setToolTip("This pass's own dry/wet: how much of its gain change is applied (100 % = all).")
        mix.edited.connect(lambda v, final: self._stage_mix(v / 100.0, final))
        self.form.addRow("Mix", mix)
        self._field_widgets["__mix__"] = mix
        for f in dataclasses.fields(cls):
            value = getattr(spec.settings, f.name)
            label, unit = setting_label(f.name)
            words = unit_words(f.name)
            tip = human_text(docs.get(f.name, ""))
            if words:
                tip = (tip + f" ({words})").strip()
            widget = self._make_field_widget(cls, f.name, value, unit)
            if widget is None:
                continue
            widget.setToolTip(tip or label)
            self.form.addRow(label, widget)
            self._field_widgets[f.name] = widget

    def _make_field_widget(self, cls: type, name: str, value: Any, unit: str):
        if isinstance(value, bool):
            w = QCheckBox()
            w.toggled.connect(lambda on, n=name: self._set_field(n, bool(on), True))
            return w
        valued = field_value_choices(cls, name) if isinstance(value, (int, float)) else None
        if valued:
            w = QComboBox()
            for v, text in valued.items():
                w.addItem(text, v)
            w.activated.connect(lambda i, n=name, w=w: self._set_field(n, w.itemData(i), True))
            return w
        if isinstance(value, (int, float)):
            lo, hi = field_range(name, value, self._sample_rate, cls)
            if isinstance(value, int) and hi - lo > 100000:
                w = QSpinBox()
                w.setRange(-(2**31) + 1, 2**31 - 1)
                w.setKeyboardTracking(False)
                w.valueChanged.connect(lambda v, n=name: self._set_field(n, int(v), True))
                return w
            decimals = 0 if isinstance(value, int) else (0 if hi - lo >= 1000 else 1 if hi - lo >= 20 else 3)
            w = ValueSlider(lo, hi, decimals=decimals, suffix=unit, integer=isinstance(value, int))
            integer = isinstance(value, int)
            w.edited.connect(lambda v, final, n=name, integer=integer:
                             self._set_field(n, int(round(v)) if integer else v, final))
            return w
        if isinstance(value, str):
            choices = field_choices(cls, name)
            if choices:
                w = QComboBox()
                w.addItems(choices)
                w.activated.connect(lambda i, n=name, w=w: self._set_field(n, w.itemText(i), True))
                return w
            w = QLineEdit()
            w.editingFinished.connect(lambda n=name, w=w: self._set_field(n, w.text(), True))
            return w
        if isinstance(value, tuple):
            w = QLineEdit()
            w.editingFinished.connect(
                lambda n=name, w=w: self._set_field(n, tuple(float(x) for x in w.text().replace(",", " ").split()), True))
            return w
        return None

    def _echo_form(self) -> None:
        row = self.stage_list.currentRow()
        chain = self._project.chain if self._project else None
        if chain is None or not 0 <= row < len(chain.stages):
            return
        spec = chain.stages[row]
        for name, w in self._field_widgets.items():
            value = spec.mix * 100.0 if name == "__mix__" else getattr(spec.settings, name, None)
            if isinstance(w, ValueSlider):
                w.set_value(value)
                continue
            w.blockSignals(True)
            try:
                if isinstance(w, QCheckBox):
                    w.setChecked(bool(value))
                elif isinstance(w, QSpinBox):
                    w.setValue(int(value))
                elif isinstance(w, QComboBox):
                    valued = w.findData(value) if not isinstance(value, str) else -1
                    w.setCurrentIndex(max(0, valued if valued >= 0 else w.findText(str(value))))
                elif isinstance(w, QLineEdit):
                    w.setText(", ".join(f"{x:g}" for x in value) if isinstance(value, tuple) else str(value))
            finally:
                w.blockSignals(False)

    # -- writes -------------------------------------------------------------------------------
    def _call(self, fn, *args, **kw) -> None:
        try:
            fn(*args, **kw)
        except RoomtoneError as exc:
            self.errorRaised.emit(exc)
            if self._project is not None:
                self.set_project(self.session.project)  # put the widgets back to the model

    def _set_field(self, name: str, value: Any, final: bool) -> None:
        row = self.stage_list.currentRow()
        self._call(self.session.set_stage_setting, row, name, value, coalesce=True)
        if final:
            self.session.end_coalescing()

    def _stage_mix(self, mix: float, final: bool) -> None:
        self._call(self.session.set_stage_mix, self.stage_list.currentRow(), mix, coalesce=True)
        if final:
            self.session.end_coalescing()

    def _set_chain(self, field: str, value: float, final: bool) -> None:
        self._call(self.session.set_chain_field, field, value, coalesce=True)
        if final:
            self.session.end_coalescing()

    def _item_toggled(self, item: QListWidgetItem) -> None:
        row = self.stage_list.row(item)
        self._call(self.session.set_stage_bypass, row, item.checkState() != Qt.CheckState.Checked)

    def _row_changed(self, row: int) -> None:
        self._build_form()
        self._echo_form()
        self._update_buttons()

    def _add(self, kind: str) -> None:
        row = self.stage_list.currentRow()
        index = row + 1 if row >= 0 else None
        self._call(self.session.add_stage, kind, index)
        if index is not None:
            self.stage_list.setCurrentRow(index)

    def _remove(self) -> None:
        row = self.stage_list.currentRow()
        if row >= 0:
            self._call(self.session.remove_stage, row)

    def _move(self, delta: int) -> None:
        row = self.stage_list.currentRow()
        new = row + delta
        if 0 <= row < self.stage_list.count() and 0 <= new < self.stage_list.count():
            self._call(self.session.move_stage, row, new)
            self.stage_list.setCurrentRow(new)

    def _toggle_refill(self, on: bool) -> None:
        chain = self.session.project.chain
        idx = [i for i, s in enumerate(chain.stages) if s.kind == "refill"]
        if idx:
            self._call(self.session.set_stage_bypass, idx[0], not on)
        elif on:
            self._call(self.session.add_stage, "refill")

    def _preset_chosen(self, i: int) -> None:
        self._call(self.session.load_preset, self.preset_combo.itemText(i))

    def _save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Preset name:", text=self.session.project.chain.name)
        if ok and name:
            try:
                save_user_preset(self.session.project.chain, name)
            except RoomtoneError as exc:
                self.errorRaised.emit(exc)
                return
            self._populate_presets()
