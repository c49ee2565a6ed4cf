"""The external issue-tracker port that ``report`` forwards issues to.

The Send AI Task Management API answers a report with 207 "Partial success (for
reports with external API issues)": taskcore models the external API as this port.
Each issue is filed on its own; an issue the tracker refuses (returns ``False`` or
raises) is named in the 207 answer's ``failed_issues``.  The report itself is kept
either way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from taskcore.sendai.task import Issue

__all__ = ["FailingTracker", "IssueTracker", "MemoryTracker", "NoTracker"]


class IssueTracker(Protocol):
    """Somewhere reported issues are filed outside taskcore."""

    def file(self, team_id: str, task_id: str, issue: Issue) -> bool:
        """File ``issue``; return whether the tracker took it (may also raise)."""
        ...


class NoTracker:
    """No external tracker: every issue is taken (the default)."""

    def file(self, team_id: str, task_id: str, issue: Issue) -> bool:
        """Take the issue; there is nowhere to send it."""
        return True


class MemoryTracker:
    """An in-memory fake tracker that keeps what it was sent (thread-safe)."""

    def __init__(self) -> None:
        self.filed: list[tuple[str, str, Issue]] = []
        self._lock = threading.Lock()

    def file(self, team_id: str, task_id: str, issue: Issue) -> bool:
        """Keep the issue; always taken."""
        with self._lock:
            self.filed.append((team_id, task_id, issue))
        return True


class FailingTracker(MemoryTracker):
    """A fake tracker that refuses the issues ``refuses`` picks (default: all)."""

    def __init__(self, refuses: Callable[[Issue], bool] = lambda issue: True) -> None:
        super().__init__()
        self.refuses = refuses

    def file(self, team_id: str, task_id: str, issue: Issue) -> bool:
        """Refuse the issue when ``refuses`` says so, else keep it."""
        if self.refuses(issue):
            return False
        return super().file(team_id, task_id, issue)
