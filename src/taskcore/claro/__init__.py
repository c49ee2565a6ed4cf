"""Claro dataset tasks (seed ``000_d988adf86e3a34c4.txt``)."""

from taskcore.claro.lifecycle import (
    ALL_RECORDED,
    CLARO_TASK,
    ClaroEvent,
    ClaroStatus,
    Recorded,
)

__all__ = ["ALL_RECORDED", "CLARO_TASK", "ClaroEvent", "ClaroStatus", "Recorded"]
