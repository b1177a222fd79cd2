"""Undo/redo as a list of labelled Project snapshots (Audacity's UndoManager, napari's block_history).

Projects are immutable values, so a snapshot costs only the parts that changed (the rest is
shared). Each step has a human-readable label ("Change Gate max reduction"). Consecutive pushes
with the same ``coalesce_key`` merge into one step, so a slider drag of a hundred values undoes
in one go; :meth:`History.end_coalescing` (on slider release), :meth:`~History.undo`,
:meth:`~History.redo` and any push with another key close the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.session.project import Project


@dataclass(frozen=True)
class Step:
    """One history entry: the Project *after* the edit called ``label``."""

    label: str
    project: Project
    coalesce_key: str | None = None


class History:
    """Labelled snapshots with a cursor. Entry 0 is the initial state (not undoable)."""

    def __init__(self, initial: Project, *, limit: int = 500, label: str = "Initial state") -> None:
        if limit < 1:
            raise ValueError(f"history limit must be at least 1 step, got {limit}")
        self.limit = int(limit)
        self._steps: list[Step] = [Step(label, initial)]
        self._index = 0
        self._open_key: str | None = None  # the key the top step is still accepting merges for

    # -- state --------------------------------------------------------------------------------
    @property
    def current(self) -> Project:
        return self._steps[self._index].project

    @property
    def index(self) -> int:
        """How many steps are applied (0: at the initial state or the oldest kept one)."""
        return self._index

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._steps) - 1

    @property
    def undo_label(self) -> str | None:
        """Label of the step :meth:`undo` would take back ("Change Gate max reduction")."""
        return self._steps[self._index].label if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self._steps[self._index + 1].label if self.can_redo else None

    @property
    def initial_label(self) -> str:
        return self._steps[0].label

    def labels(self) -> list[str]:
        """Labels of all undo steps, oldest first, including those that can be redone.

        The first :attr:`index` of them are applied.
        """
        return [s.label for s in self._steps[1:]]

    def __len__(self) -> int:
        return len(self._steps) - 1

    # -- edits --------------------------------------------------------------------------------
    def push(self, label: str, project: Project, *, coalesce_key: str | None = None) -> None:
        """Record ``project`` as the state after the edit ``label``; drops the redo tail.

        With the same non-None ``coalesce_key`` as the previous push (and no undo, redo or
        :meth:`end_coalescing` in between) the step is updated in place instead.
        """
        if not isinstance(project, Project):
            raise TypeError(f"History holds Project values, got {type(project).__name__}")
        del self._steps[self._index + 1 :]
        if coalesce_key is not None and coalesce_key == self._open_key and self._index > 0:
            self._steps[self._index] = Step(label, project, coalesce_key)
            return
        self._steps.append(Step(label, project, coalesce_key))
        self._index += 1
        self._open_key = coalesce_key
        overflow = len(self._steps) - 1 - self.limit
        if overflow > 0:
            # The oldest kept state becomes the new base (it can no longer be undone).
            del self._steps[:overflow]
            self._index -= overflow

    def amend(self, project: Project) -> None:
        """Replace the current state without making a step (e.g. a new selection).

        The state reached by undo/redo keeps the amendment; the redo tail is kept too.
        """
        if not isinstance(project, Project):
            raise TypeError(f"History holds Project values, got {type(project).__name__}")
        step = self._steps[self._index]
        self._steps[self._index] = Step(step.label, project, step.coalesce_key)

    def amend_all(self, fn: Callable[[Project], Project]) -> None:
        """Rewrite every stored state with ``fn`` (fill in derived data, e.g. a source hash
        computed in the background, so that undo does not bring back the missing value)."""
        self._steps = [Step(s.label, fn(s.project), s.coalesce_key) for s in self._steps]

    def end_coalescing(self) -> None:
        """The next push starts a new step even with the same key (e.g. on slider release)."""
        self._open_key = None

    def undo(self) -> Project | None:
        """Go back one step; the Project now current, or None if there is nothing to undo."""
        self._open_key = None
        if not self.can_undo:
            return None
        self._index -= 1
        return self.current

    def redo(self) -> Project | None:
        self._open_key = None
        if not self.can_redo:
            return None
        self._index += 1
        return self.current

    def go_to(self, index: int) -> Project | None:
        """Undo or redo until ``index`` steps are applied (Audacity's History window); the Project
        now current, or None when ``index`` is already current. Exactly ``k`` undos or redos."""
        if not 0 <= index < len(self._steps):
            raise IndexError(f"history step {index} does not exist (0..{len(self._steps) - 1})")
        self._open_key = None
        if index == self._index:
            return None
        self._index = index
        return self.current

    def reset(self, project: Project, label: str = "Initial state") -> None:
        """Forget every step; ``project`` becomes the initial state (a new file or project)."""
        self._steps = [Step(label, project)]
        self._index = 0
        self._open_key = None
