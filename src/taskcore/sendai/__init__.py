"""Send AI document tasks (Send AI Task Management API)."""

from taskcore.sendai.errors import (
    InvalidTaskState,
    ProjectNotFound,
    TaskValidationFailed,
    UploadNotFound,
)
from taskcore.sendai.lifecycle import (
    FINALIZED,
    PASSES_VALIDATION,
    SENDAI_TASK,
    UNLOCKABLE,
    SendAIEvent,
    SendAIStatus,
)
from taskcore.sendai.service import Document, SendAITasks
from taskcore.sendai.task import (
    ApiKey,
    FilterRule,
    Issue,
    MetaField,
    Project,
    Report,
    SendAITask,
    Step,
    StepType,
    Upload,
)
from taskcore.sendai.tracker import FailingTracker, IssueTracker, MemoryTracker, NoTracker

__all__ = [
    "FINALIZED",
    "PASSES_VALIDATION",
    "SENDAI_TASK",
    "UNLOCKABLE",
    "ApiKey",
    "Document",
    "FailingTracker",
    "FilterRule",
    "InvalidTaskState",
    "Issue",
    "IssueTracker",
    "MemoryTracker",
    "MetaField",
    "NoTracker",
    "Project",
    "ProjectNotFound",
    "Report",
    "SendAIEvent",
    "SendAIStatus",
    "SendAITask",
    "SendAITasks",
    "Step",
    "StepType",
    "TaskValidationFailed",
    "Upload",
    "UploadNotFound",
]
