"""Claro dataset tasks (Claro API reference, "Tasks")."""

from taskcore.claro.grid import CellCodec, CellTable, DefaultCellCodec, Grid
from taskcore.claro.lifecycle import (
    ALL_RECORDED,
    CLARO_TASK,
    ClaroEvent,
    ClaroStatus,
    Recorded,
)
from taskcore.claro.selection import Resolution, Selection, TargetMode

__all__ = [
    "ALL_RECORDED",
    "CLARO_TASK",
    "CellCodec",
    "CellTable",
    "ClaroEvent",
    "ClaroStatus",
    "DefaultCellCodec",
    "Grid",
    "Recorded",
    "Resolution",
    "Selection",
    "TargetMode",
]
