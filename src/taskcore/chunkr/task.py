"""The Chunkr task value and a task's output (the ``chunkr-ai`` client's
``TaskResponse`` and ``OutputResponse``).

A :class:`ChunkrTask` is frozen: the service changes a task by firing an event on
:data:`~taskcore.chunkr.lifecycle.CHUNKR_TASK` and storing ``attrs.evolve(task, ...)``.
Decisions (docs/chunkr.md, "Timestamps and expiry"):

- ``created_at`` on create; ``started_at`` at every pick-up (a re-run overwrites it);
  ``finished_at`` when a run succeeds or fails, or a new task is cancelled;
  ``expires_at = finished_at + expires_in``, ``None`` without ``expires_in``.
- During a re-run, ``finished_at`` and ``expires_at`` keep the last finished run's
  values until the re-run finishes; :attr:`ChunkrTask.previous` remembers the status,
  message and configuration the re-run reverts to.
- The output of the last successful run is kept apart from the task (the service's
  outputs table), so that updating or reading a task's state never copies its chunks;
  it is shown only while the task is ``Succeeded``.  A ``Failed`` task never has one: a
  new task that fails never succeeded, and a re-run reverts to ``Failed`` only from
  ``Failed``.
- A task whose ``expires_at`` has passed is expired: gone for every caller.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from taskcore.chunkr.configuration import Configuration, SegmentType
from taskcore.chunkr.lifecycle import ChunkrStatus
from taskcore.clock import format_instant, parse_instant

__all__ = ["BoundingBox", "Chunk", "ChunkrTask", "Output", "Previous", "Segment"]


@attrs.frozen
class BoundingBox:
    """A segment's ``bbox`` on its page."""

    left: float
    top: float
    width: float
    height: float

    def to_wire(self) -> dict[str, float]:
        """``{left, top, width, height}``."""
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@attrs.frozen
class Segment:
    """One segment of a chunk (the client's ``Segment``; the fields taskcore keeps)."""

    segment_id: str
    segment_type: SegmentType = attrs.field(converter=SegmentType)
    content: str = ""
    bbox: BoundingBox = BoundingBox(0.0, 0.0, 0.0, 0.0)
    page_number: int = 1
    page_width: float = 0.0
    page_height: float = 0.0
    confidence: float | None = None
    html: str | None = None
    markdown: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """The ``Segment`` object."""
        return {
            "segment_id": self.segment_id,
            "segment_type": self.segment_type.value,
            "content": self.content,
            "text": self.content,
            "bbox": self.bbox.to_wire(),
            "page_number": self.page_number,
            "page_width": self.page_width,
            "page_height": self.page_height,
            "confidence": self.confidence,
            "html": self.html,
            "markdown": self.markdown,
            "ocr": [],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Segment:
        """Rebuild from :meth:`to_wire`'s document."""
        return cls(
            segment_id=doc["segment_id"],
            segment_type=SegmentType(doc["segment_type"]),
            content=doc["content"],
            bbox=BoundingBox(**doc["bbox"]),
            page_number=doc["page_number"],
            page_width=doc["page_width"],
            page_height=doc["page_height"],
            confidence=doc["confidence"],
            html=doc["html"],
            markdown=doc["markdown"],
        )


def _segments(segments: Iterable[Segment]) -> tuple[Segment, ...]:
    return tuple(segments)


@attrs.frozen
class Chunk:
    """A chunk: segments grouped up to the configured length (the client's ``Chunk``)."""

    chunk_id: str
    segments: tuple[Segment, ...] = attrs.field(converter=_segments)
    content: str | None = None
    embed: str | None = None

    @property
    def chunk_length(self) -> int:
        """Words in the chunk's segments (taskcore's count; the server counts tokens)."""
        return sum(len(s.content.split()) for s in self.segments)

    def to_wire(self) -> dict[str, Any]:
        """The ``Chunk`` object."""
        return {
            "chunk_id": self.chunk_id,
            "chunk_length": self.chunk_length,
            "segments": [s.to_wire() for s in self.segments],
            "content": self.content,
            "embed": self.embed,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Chunk:
        """Rebuild from :meth:`to_wire`'s document."""
        return cls(
            chunk_id=doc["chunk_id"],
            segments=tuple(Segment.from_doc(s) for s in doc["segments"]),
            content=doc["content"],
            embed=doc["embed"],
        )


def _chunks(chunks: Iterable[Chunk]) -> tuple[Chunk, ...]:
    return tuple(chunks)


@attrs.frozen
class Output:
    """What a successful run produced (the client's ``OutputResponse``)."""

    chunks: tuple[Chunk, ...] = attrs.field(converter=_chunks)
    page_count: int | None = None
    pdf_url: str | None = None
    mime_type: str | None = None

    def to_wire(self, *, file_name: str | None, include_chunks: bool = True) -> dict[str, Any]:
        """The ``OutputResponse`` object; ``include_chunks=False`` gives ``chunks: []``."""
        return {
            "chunks": [c.to_wire() for c in self.chunks] if include_chunks else [],
            "file_name": file_name,
            "page_count": self.page_count,
            "pdf_url": self.pdf_url,
            "mime_type": self.mime_type,
            "pages": None,
        }

    def to_doc(self) -> dict[str, Any]:
        """A JSON document for a store."""
        return {
            "chunks": [c.to_wire() for c in self.chunks],
            "page_count": self.page_count,
            "pdf_url": self.pdf_url,
            "mime_type": self.mime_type,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Output:
        """Rebuild from :meth:`to_doc`."""
        return cls(
            chunks=tuple(Chunk.from_doc(c) for c in doc["chunks"]),
            page_count=doc["page_count"],
            pdf_url=doc["pdf_url"],
            mime_type=doc["mime_type"],
        )


@attrs.frozen
class Previous:
    """What a re-run reverts to: the task as it was before the update that queued it."""

    status: ChunkrStatus
    message: str
    configuration: Configuration

    def to_doc(self) -> dict[str, Any]:
        """A JSON document for a store."""
        return {
            "status": self.status.value,
            "message": self.message,
            "configuration": self.configuration.to_wire(),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Previous:
        """Rebuild from :meth:`to_doc`."""
        return cls(
            status=ChunkrStatus(doc["status"]),
            message=doc["message"],
            configuration=Configuration.from_wire(doc["configuration"]),
        )


def _instant(value: str | None) -> datetime | None:
    return None if value is None else parse_instant(value)


def _text(value: datetime | None) -> str | None:
    return None if value is None else _format(value)


# A task's few instants are written again on every change of it: format each once.
_format = functools.lru_cache(maxsize=4096)(format_instant)


@attrs.frozen
class ChunkrTask:
    """One Chunkr parse task.

    Attributes:
        task_id: a UUID string.
        user_id: the user (API key's owner) the task belongs to.
        status: where it is in :data:`CHUNKR_TASK`.
        message: the status message (``Task queued``, a failure's own message, ...).
        configuration: the configuration the current (or last) run uses.
        file_name: the create form's ``file_name``.
        file_url: the input's URL when it was given as one, else ``None`` (the base64
            content is kept apart from the task, see the service).
        created_at, started_at, finished_at, expires_at: see the module docstring.
        previous: set while a re-run is queued or processing, else ``None``.
    """

    task_id: str
    user_id: str
    status: ChunkrStatus
    message: str
    configuration: Configuration
    created_at: datetime
    file_name: str | None = None
    file_url: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    previous: Previous | None = None

    @property
    def rerun_of(self) -> ChunkrStatus | None:
        """The lifecycle guards' context: the status a queued or running re-run came
        from, ``None`` for a new task."""
        return None if self.previous is None else self.previous.status

    def expired(self, now: datetime) -> bool:
        """Whether ``expires_at`` has passed at ``now`` (an expired task is gone)."""
        return self.expires_at is not None and self.expires_at <= now

    def to_doc(self) -> dict[str, Any]:
        """A JSON document for a store."""
        return {
            "task_id": self.task_id,
            "user_id": self.user_id,
            "status": self.status.value,
            "message": self.message,
            "configuration": self.configuration.to_wire(),
            "created_at": _format(self.created_at),
            "file_name": self.file_name,
            "file_url": self.file_url,
            "started_at": _text(self.started_at),
            "finished_at": _text(self.finished_at),
            "expires_at": _text(self.expires_at),
            "previous": None if self.previous is None else self.previous.to_doc(),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ChunkrTask:
        """Rebuild from :meth:`to_doc`."""
        return cls(
            task_id=doc["task_id"],
            user_id=doc["user_id"],
            status=ChunkrStatus(doc["status"]),
            message=doc["message"],
            configuration=Configuration.from_wire(doc["configuration"]),
            created_at=parse_instant(doc["created_at"]),
            file_name=doc["file_name"],
            file_url=doc["file_url"],
            started_at=_instant(doc["started_at"]),
            finished_at=_instant(doc["finished_at"]),
            expires_at=_instant(doc["expires_at"]),
            previous=None if doc["previous"] is None else Previous.from_doc(doc["previous"]),
        )
