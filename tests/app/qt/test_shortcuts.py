"""Every keyboard shortcut in the workstation belongs to one action: Qt fires neither of two
actions that share a key (an "ambiguous shortcut"), so a clash silently breaks both."""

from __future__ import annotations

from collections import defaultdict

import pytest
from PySide6.QtGui import QAction

pytestmark = pytest.mark.gui


def test_no_two_actions_share_a_shortcut(make_window):
    w = make_window()
    owners: dict[str, set[str]] = defaultdict(set)
    for act in w.findChildren(QAction):
        for key in act.shortcuts():
            if not key.isEmpty():
                owners[key.toString()].add(act.text().replace("&", ""))
    clashes = {k: sorted(v) for k, v in owners.items() if len(v) > 1}
    assert not clashes, clashes
    assert len(owners) > 40  # the window's actions were all found (File, Edit, View, Transport...)
