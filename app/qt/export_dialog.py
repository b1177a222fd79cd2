"""Export: what to write (processed, removed or original), its loudness, where, and in which format.

The file name's extension decides the container (:func:`dsp.io.output_format`, the same rule as
``roomtone clean``): choosing a format renames the file, typing a ``.wav``/``.flac`` name picks a
matching format, and Export refuses a name Roomtone does not write.

The render itself is ``Session.render_to`` / ``app.session.render_project`` -- the same code
path as ``roomtone clean`` -- run by the window as a cancellable job.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.session import loudness_label, loudness_menu
from dsp.errors import ParameterError
from dsp.io import OUTPUT_CONTAINERS, WRITE_FORMATS, output_format

FORMAT_LABELS = {
    "wav24": "WAV, 24-bit PCM (editing, archiving)",
    "wav16": "WAV, 16-bit PCM (CD quality)",
    "wav32": "WAV, 32-bit integer PCM (keeps a 32-bit source)",
    "float32": "WAV, 32-bit float (no clipping, for further processing)",
    "float64": "WAV, 64-bit float (keeps a 64-bit float source)",
    "flac24": "FLAC, 24-bit (lossless, about half the size)",
    "flac16": "FLAC, 16-bit (lossless, distribution)",
}

#: The same depth in the other container, for when the typed name switches container.
_COUNTERPART = {"wav16": "flac16", "wav24": "flac24", "flac16": "wav16", "flac24": "wav24"}


#: what an export can hold (the chain's ``listen`` setting for the render), in the order offered
EXPORT_CONTENTS = (
    ("processed", "Processed: the cleaned audio"),
    ("removed", "Removed: only what the chain takes away (original minus processed)"),
    ("original", "Original: the untouched input, latency-aligned"),
)


class ExportDialog(QDialog):
    """Choose what to export, its loudness target, the output file and format; ``content()``,
    ``loudness()``, ``path()`` and ``format()`` after ``exec()``."""

    def __init__(self, default_path: Path, default_format: str = "wav24", parent=None, *,
                 loudness: str = "off") -> None:
        super().__init__(parent)
        self.setWindowTitle("Export cleaned audio")
        root = QVBoxLayout(self)
        form = QFormLayout()
        root.addLayout(form)
        self.format_combo = QComboBox()
        for key in WRITE_FORMATS:
            self.format_combo.addItem(f"{FORMAT_LABELS.get(key, key)} · {key}", key)  # the --format name
        self.format_combo.setCurrentIndex(max(0, self.format_combo.findData(default_format)))
        self.format_combo.setToolTip("File format and sample depth of the exported audio (after the dot: the "
                                     "name 'roomtone clean --format' takes). The sample rate and channels are "
                                     "kept from the source.")
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        row = QWidget()
        rl = QHBoxLayout(row)
        rl.setContentsMargins(0, 0, 0, 0)
        self.path_edit = QLineEdit(str(default_path))
        self.path_edit.setToolTip("Where the cleaned audio is written. The file appears only once the render "
                                  "has finished (never half-written).")
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose the output file.")
        browse.clicked.connect(self._browse)
        rl.addWidget(self.path_edit, 1)
        rl.addWidget(browse)
        self.path_edit.textEdited.connect(self._path_edited)
        self.content_combo = QComboBox()
        for key, text in EXPORT_CONTENTS:
            self.content_combo.addItem(text, key)
        self.content_combo.setToolTip("What the exported file holds. Independent of what you are hearing "
                                      "(Hear, in the transport bar), which never changes the export.")
        self.loudness_combo = QComboBox()
        for name in loudness_menu():
            self.loudness_combo.addItem(f"{loudness_label(name)} · {name}", name)  # the --loudness name
        self.loudness_combo.setCurrentIndex(max(0, self.loudness_combo.findData(loudness)))
        self.loudness_combo.setToolTip("Normalise the processed audio to this loudness, with a true-peak limiter at "
                                       "-1 dBTP (the project's target, set in the chain panel's Output group, is "
                                       "the default). The chain is rendered once, measured, then gain and limiter "
                                       "write the file; its render record states the figures. After the dot: the "
                                       "name 'roomtone clean --loudness' takes. Not applied to "
                                       "Removed or Original exports.")
        self.content_combo.currentIndexChanged.connect(self._content_changed)
        for combo in (self.content_combo, self.loudness_combo, self.format_combo):
            # long choices must not push the form's labels out (the popup still shows them whole)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(28)
        form.addRow("Export", self.content_combo)
        form.addRow("Loudness", self.loudness_combo)
        form.addRow("Format", self.format_combo)
        form.addRow("File", row)
        self.error_label = QLabel("")
        self.error_label.setObjectName("error")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        form.addRow(self.error_label)
        note = QLabel("Rendered with the chain, room tone and mix shown — the same render as "
                      "<code>roomtone clean</code>, so it matches the command line bit for bit.")
        note.setObjectName("hint")
        note.setWordWrap(True)
        root.addWidget(note)
        root.addStretch(1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        root.addWidget(buttons)
        # a word-wrapped hint needs the height it takes at this width: a top-level layout does not
        # ask for it by itself (the hint was drawn under the buttons)
        narrowest = 460
        self.setMinimumSize(narrowest, root.totalHeightForWidth(narrowest))
        self.resize(560, root.totalHeightForWidth(560))

    def content(self) -> str:
        """``"processed"``, ``"removed"`` or ``"original"``: the render's listen setting."""
        return self.content_combo.currentData()

    def format(self) -> str:
        return self.format_combo.currentData()

    def loudness(self) -> str:
        """The loudness target name for the export (``"off"`` for Removed / Original exports)."""
        return self.loudness_combo.currentData() if self.content() == "processed" else "off"

    def _content_changed(self) -> None:
        self.loudness_combo.setEnabled(self.content() == "processed")

    def problem(self) -> str | None:
        """Why the chosen name and format cannot be exported (the shared rule), or None."""
        try:
            output_format(self.path(), self.format())
        except ParameterError as exc:
            return str(exc)
        return None

    def accept(self) -> None:  # noqa: D102 - refuse a name the format contradicts, with the reason
        problem = self.problem()
        if problem:
            self.error_label.setText(problem)
            self.error_label.show()
            return
        super().accept()

    def _path_edited(self, text: str) -> None:
        """A typed .wav/.flac name picks a format of that container (the same depth where it can)."""
        self.error_label.hide()
        container = OUTPUT_CONTAINERS.get(Path(text).suffix.lower())
        fmt = self.format()
        if container is None or WRITE_FORMATS[fmt][0] == container:
            return
        new = _COUNTERPART.get(fmt) or ("flac24" if container == "FLAC" else "wav24")
        self.format_combo.blockSignals(True)
        self.format_combo.setCurrentIndex(self.format_combo.findData(new))
        self.format_combo.blockSignals(False)

    def path(self) -> Path:
        return Path(self.path_edit.text()).expanduser()

    def _format_changed(self) -> None:
        self.error_label.hide()
        ext = WRITE_FORMATS[self.format()][2]
        p = self.path()
        self.path_edit.setText(str(p.with_suffix(ext)))

    def _browse(self) -> None:
        ext = WRITE_FORMATS[self.format()][2]
        path, _ = QFileDialog.getSaveFileName(self, "Export to", str(self.path()), f"Audio (*{ext})")
        if path:
            self.path_edit.setText(path)
            self._path_edited(path)
