"""Space is Play/Pause everywhere in the workstation except in a free-text field.

Number fields and lists would take the key for themselves (a spin box never needs a space);
the shortcut wins there, so an editor can type a value and press Space to hear it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
)


def is_free_text(widget) -> bool:
    """A field where Space types a space (not a number field or a combo box's editor)."""
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    if isinstance(widget, QLineEdit):
        parent = widget.parentWidget()
        return not isinstance(parent, (QAbstractSpinBox, QComboBox)) and not widget.isReadOnly()
    return False


class SpaceKeyFilter(QObject):
    """An application event filter: Space stays a shortcut in ``window`` (and its floating
    prosody dock) unless the focus is in a free-text field."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt naming
        if ev.type() == QEvent.Type.ShortcutOverride and ev.key() == Qt.Key.Key_Space and not (
                ev.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            w = QApplication.focusWidget()
            if w is not None and w.window() in (self.window, getattr(self.window, "prosody_dock", None)) \
                    and not is_free_text(w):
                ev.ignore()
                return True
        return False
