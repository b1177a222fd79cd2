"""File › Open Recent and the folder file dialogs start in, kept in QSettings."""

from __future__ import annotations

from pathlib import Path

MAX_RECENT = 10


class RecentFiles:
    """The recent-files list in ``settings``, shown in ``menu``; choosing one calls ``open_path``."""

    def __init__(self, settings, menu, open_path) -> None:
        self.settings = settings
        self.menu = menu
        self.open_path = open_path

    def files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add(self, path: Path) -> None:
        items = [str(path)] + [p for p in self.files() if p != str(path)]
        self.settings.setValue("recent_files", items[:MAX_RECENT])
        self.settings.setValue("last_folder", str(Path(path).parent))
        self.rebuild_menu()

    def rebuild_menu(self) -> None:
        self.menu.clear()
        files = self.files()
        for p in files:
            act = self.menu.addAction(Path(p).name)
            act.setToolTip(p)
            act.triggered.connect(lambda _=False, p=p: self.open_path(p))
        self.menu.setEnabled(bool(files))

    def last_folder(self) -> str:
        return str(self.settings.value("last_folder", str(Path.home())))
