"""Chunkr parse tasks (Chunkr API, ``TaskApi``): create, get, update with a merged
configuration and revert, cancel, delete and expiry (docs/chunkr.md)."""

from taskcore.chunkr.configuration import Configuration
from taskcore.chunkr.errors import (
    ChunkrTaskNotFound,
    ConfigurationUnchanged,
    TaskNotCancellable,
    TaskNotDeletable,
    TaskNotUpdatable,
    UsageLimitExceeded,
)
from taskcore.chunkr.lifecycle import CHUNKR_TASK, ChunkrEvent, ChunkrStatus
from taskcore.chunkr.service import ChunkrTasks
from taskcore.chunkr.task import BoundingBox, Chunk, ChunkrTask, Output, Segment

__all__ = [
    "CHUNKR_TASK",
    "BoundingBox",
    "Chunk",
    "ChunkrEvent",
    "ChunkrStatus",
    "ChunkrTask",
    "ChunkrTaskNotFound",
    "ChunkrTasks",
    "Configuration",
    "ConfigurationUnchanged",
    "Output",
    "Segment",
    "TaskNotCancellable",
    "TaskNotDeletable",
    "TaskNotUpdatable",
    "UsageLimitExceeded",
]
