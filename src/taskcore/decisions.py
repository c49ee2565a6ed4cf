"""Decisions taskcore takes where a vendor's API documentation is silent or contradicts
itself, one table per API, each decision held by a named test.

The tables are data: :func:`taskcore.docs.render_decisions` renders them as the site's
"Decisions" pages (``docs/decisions/<api>.md``, written by ``make docs``), and a test checks
that every test they name exists, so a page cannot point at a test that is gone.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = ["API_DOCUMENTS", "DECISIONS", "Decision"]


@attrs.frozen
class Decision:
    """One decision where the vendor's document says nothing (or two things).

    Attributes:
        topic: what it is about, a few words.
        decision: what taskcore does, in Markdown.
        test: the pytest node id of the test that holds it
            (``"tests/test_claro_service.py::test_..."``).
    """

    topic: str
    decision: str
    test: str


API_DOCUMENTS: Mapping[str, tuple[str, str, str]] = {
    "claro": (
        "Claro dataset tasks",
        'Claro API reference, "Tasks"',
        "https://docs.getclaro.ai/api-reference/tasks",
    ),
    "sendai": (
        "Send AI document tasks",
        "Send AI Task Management API",
        "https://docs.send.ai/api/v2/tasks/overview",
    ),
    "chunkr": (
        "Chunkr parse tasks",
        "Chunkr `TaskApi` (the `chunkr-ai` client)",
        "https://pypi.org/project/chunkr-ai/",
    ),
    "visual_layer": (
        "Visual Layer task manager",
        'Visual Layer docs, "Task Manager"',
        "https://docs.visual-layer.com/",
    ),
}
"""API -> (its name, the title of its public documentation, that documentation's URL)."""

_CLARO = "tests/test_claro_service.py::"
_CLARO_HARD = "tests/test_claro_hardening.py::"
_SELECTION = "tests/test_selection.py::"
_SENDAI = "tests/test_sendai_service.py::"
_SENDAI_HTTP = "tests/test_sendai_http.py::"
_CHUNKR = "tests/test_chunkr_service.py::"
_CHUNKR_HTTP = "tests/test_chunkr_http.py::"
_VL = "tests/test_visual_layer_service.py::"

DECISIONS: Mapping[str, tuple[Decision, ...]] = {
    "claro": (
        Decision(
            "HTTP statuses",
            "The reference names error codes but no statuses: not-found codes are 404, "
            "`INVALID_SELECTION` and `VALIDATION_ERROR` 400, `DATASET_LOCKED` and "
            "`TASK_NOT_CANCELLABLE` 409, `QUOTA_EXCEEDED` 429, a bad or missing key 401.",
            "tests/test_errors.py::test_http_statuses_follow_the_design_decisions",
        ),
        Decision(
            "Authentication",
            "A missing, malformed or unknown Bearer key is 401 in the Claro error body.",
            "tests/test_claro_http.py::test_missing_or_unknown_key_is_401",
        ),
        Decision(
            "Order of checks on create",
            "Dataset exists, then the body is valid, then the webhook exists, then the "
            "dataset is unlocked, then the quota: the first failing check is the answer.",
            f"{_CLARO}test_create_checks_dataset_then_input_then_webhook_then_lock_then_quota",
        ),
        Decision(
            "A refused create",
            "Never takes the dataset's lock and never counts against the quota.",
            f"{_CLARO}test_a_refused_create_never_locks_the_dataset",
        ),
        Decision(
            "Cancel",
            "Accepted from `queued` and `processing` (it frees the dataset); the task stays "
            "readable as `cancelled`.",
            f"{_CLARO}test_cancel_works_from_queued_and_processing_and_frees_the_dataset",
        ),
        Decision(
            "Cancel of an ended task",
            "`TASK_NOT_CANCELLABLE` (409) with `details.currentStatus`; nothing changes.",
            "tests/test_claro_lifecycle.py::test_cancel_is_refused_once_terminal_with_the_documented_body",
        ),
        Decision(
            "Selection without ids",
            "`{}` targets every empty cell of the dataset.",
            f"{_SELECTION}test_no_ids_target_every_empty_cell_of_the_dataset",
        ),
        Decision(
            "`cellIds` with `rowIds` or `columnIds`",
            "Refused with `INVALID_SELECTION`: the two ways of naming cells do not mix.",
            f"{_SELECTION}test_cell_ids_cannot_be_combined_with_row_ids_or_column_ids",
        ),
        Decision(
            "Empty arrays",
            "An explicit but empty id array is `INVALID_SELECTION`: a selection is never "
            "widened to the whole dataset.",
            f"{_SELECTION}test_an_empty_id_array_is_refused_never_widened",
        ),
        Decision(
            "Unknown ids",
            "`INVALID_SELECTION` naming the unknown ids; the dataset is unchanged.",
            f"{_SELECTION}test_unknown_ids_are_refused_naming_them_and_the_grid_is_unchanged",
        ),
        Decision(
            "`processOnlyEmpty`",
            "Defaults to `true` in every targeting mode and filters the cells the ids name.",
            f"{_SELECTION}test_process_only_empty_defaults_to_true",
        ),
        Decision(
            "Duplicate ids",
            "Ignored, keeping the first occurrence.",
            f"{_SELECTION}test_duplicates_are_dropped_keeping_first_occurrences",
        ),
        Decision(
            "Zero target cells",
            "Accepted: progress `0/0` at 100%, and the task completes as soon as it starts.",
            f"{_CLARO}test_zero_target_cells_are_accepted_and_complete_right_after_start",
        ),
        Decision(
            "Completing",
            "Needs every target recorded (guard `all_recorded`); until then it is refused.",
            "tests/test_claro_lifecycle.py::test_complete_is_refused_until_every_target_is_recorded",
        ),
        Decision(
            "A dead worker",
            "The task's lease lapses and the task has failed with `lease_expired`, which "
            "a client that only polls sees: there is no background thread.",
            f"{_CLARO_HARD}test_a_polling_client_sees_a_dead_workers_task_fail",
        ),
        Decision(
            "Fenced worker writes",
            "A worker whose lease was taken over cannot complete the task: its writes carry "
            "an old fencing token and are refused.",
            f"{_CLARO_HARD}test_a_stale_worker_cannot_complete_after_another_task_took_the_dataset",
        ),
        Decision(
            "Edits while locked",
            "Structure and data edits of a locked dataset are `DATASET_LOCKED` naming "
            "`activeTaskId`.",
            "tests/test_locks.py::test_edits_are_refused_while_a_task_holds_the_dataset",
        ),
        Decision(
            "Outcomes",
            "Reach the dataset when the task ends, in the same unit of work: a completed "
            "bulk task fills its successful cells.",
            f"{_CLARO}test_a_completed_bulk_task_fills_its_successful_cells",
        ),
        Decision(
            "Webhook notification",
            "One notification, the documented payload, signed with the webhook's secret, "
            "written when the task completes or fails (none on cancel) and sent once.",
            f"{_CLARO}test_the_webhook_record_of_a_completed_task_is_signed_and_sent_once",
        ),
        Decision(
            "A re-registered webhook",
            "Notifications not yet delivered go to the new URL, signed with the new secret.",
            f"{_CLARO_HARD}test_pending_notifications_follow_a_re_registered_webhook",
        ),
        Decision(
            "Idempotency keys",
            "The same create under the same key returns the original response, even after "
            "the task moved on; another request under the key is `IDEMPOTENCY_CONFLICT`.",
            f"{_CLARO_HARD}test_a_replay_returns_the_original_response_after_the_task_moved_on",
        ),
        Decision(
            "Tenancy",
            "Another account's datasets, tasks and webhooks are not found, never forbidden.",
            f"{_CLARO}test_another_accounts_dataset_task_and_webhook_are_not_found",
        ),
        Decision(
            "A task under another dataset's path",
            "`TASK_NOT_FOUND`.",
            f"{_CLARO}test_a_task_id_under_another_datasets_path_is_task_not_found",
        ),
        Decision(
            "Quota",
            "A rate per account; a refusal carries `retryAfterSeconds` (whole seconds, "
            "rounded up) and a retry after that long succeeds.",
            "tests/test_quota.py::test_retry_after_is_whole_seconds_rounded_up_and_a_retry_then_succeeds",
        ),
        Decision(
            "Categories",
            "Enrichment, extraction, map extraction and AI generation belong to the dataset "
            "and are recorded on each task; the requests carry none, so none is on the wire.",
            "tests/test_claro_task.py::test_every_task_records_its_category",
        ),
    ),
    "sendai": (
        Decision(
            "FAILED",
            "A dead end: every operation but `report` is refused there.",
            "tests/test_sendai_lifecycle.py::test_failed_is_a_dead_end_but_for_reports",
        ),
        Decision(
            "Complete and discard",
            "Only from REVIEWING; anything else is 400 `INVALID_TASK_STATE` and nothing changes.",
            f"{_SENDAI_HTTP}test_a_refused_state_is_400_and_changes_nothing",
        ),
        Decision(
            "Complete with data",
            "The optional `meta` of the body is applied before the step's validation runs.",
            f"{_SENDAI}test_complete_applies_meta_before_validating",
        ),
        Decision(
            "Failed validation",
            "400 `TASK_VALIDATION_FAILED` naming the fields; the task stays REVIEWING with "
            "its meta as it was.",
            f"{_SENDAI}test_complete_failing_validation_names_the_fields_and_keeps_reviewing",
        ),
        Decision(
            "Complete's answer",
            '200 with the task in PROCESSING and the message "Task processing started".',
            f"{_SENDAI_HTTP}test_complete_answers_processing_and_task_processing_started",
        ),
        Decision(
            "Unlock of a task that is not finalized",
            "400 `INVALID_TASK_STATE`: only COMPLETED, DISCARDED and FILTERED unlock.",
            f"{_SENDAI}test_unlock_is_refused_for_a_task_that_is_not_finalized",
        ),
        Decision(
            "Unlock of an exported task",
            "Refused: `exported_at` set means the task has left the pipeline.",
            f"{_SENDAI}test_an_exported_task_never_unlocks",
        ),
        Decision(
            "Unlock when the upload is fully processed",
            "Refused (a flag of the upload).",
            f"{_SENDAI}test_a_task_of_a_fully_processed_upload_never_unlocks",
        ),
        Decision(
            "A failed export",
            "`export_failed_at` does not prevent unlocking.",
            f"{_SENDAI}test_a_failed_export_leaves_the_task_unlockable",
        ),
        Decision(
            "Unlock's result",
            "REVIEWING at the task's step, so unlock, correct, complete works.",
            f"{_SENDAI}test_unlock_correct_complete_reprocesses_the_task",
        ),
        Decision(
            "Report",
            "Accepted in every status, never changes it: 201 with the task.",
            f"{_SENDAI_HTTP}test_report_is_201_with_the_task_unchanged",
        ),
        Decision(
            "Report partly refused by the issue tracker",
            "207 with `failed_issues` naming what the tracker refused.",
            f"{_SENDAI_HTTP}test_report_is_207_naming_what_the_tracker_refused",
        ),
        Decision(
            "Report without issues",
            "A missing, empty or malformed `issues` is 400.",
            f"{_SENDAI_HTTP}test_a_missing_empty_or_malformed_issues_is_400",
        ),
        Decision(
            "Scopes",
            "Reads need `task.read`, changes `task.edit`.",
            f"{_SENDAI}test_reads_need_task_read_and_changes_need_task_edit",
        ),
        Decision(
            "Scope names",
            "`tasks.view` and `tasks.edit` are accepted as aliases of `task.read` and `task.edit`.",
            f"{_SENDAI}test_the_scope_aliases_are_accepted",
        ),
        Decision(
            "A bad key or a missing scope",
            "401 (the document lists no 403), in the `{code, message}` body.",
            f"{_SENDAI_HTTP}test_a_bad_key_or_a_missing_scope_is_401",
        ),
        Decision(
            "Order of checks",
            "Key, then scope, then the task's existence, then its state: a missing scope is "
            "401 even for a task that does not exist.",
            f"{_SENDAI_HTTP}test_a_missing_scope_is_401_even_for_a_task_that_does_not_exist",
        ),
        Decision(
            "PUT",
            "POST is canonical; PUT is accepted too for `unlock` and `discard`, as the "
            "document's workflows write them.",
            f"{_SENDAI_HTTP}test_discard_then_unlock_answer_the_payload_envelope",
        ),
        Decision(
            "Another team's task",
            "404, whatever path the key uses: never a hint that it exists.",
            f"{_SENDAI_HTTP}test_another_teams_task_is_404",
        ),
        Decision(
            "A task under another project's path",
            "404.",
            f"{_SENDAI_HTTP}test_a_task_under_another_projects_path_is_404",
        ),
        Decision(
            "Where tasks come from",
            "There is no create endpoint: an upload brings its documents into the "
            "project's first step in PROCESSING (the worker side).",
            f"{_SENDAI}test_an_upload_brings_its_documents_into_the_first_step_processing",
        ),
        Decision(
            "Export",
            "Only a COMPLETED task is exported.",
            f"{_SENDAI}test_only_a_completed_task_is_exported",
        ),
        Decision(
            "A report the store cannot keep",
            "A busy store keeps nothing of it (503); a retry files its issues again.",
            "tests/test_sendai_probe_fixes.py::test_a_report_refused_by_a_busy_store_keeps_nothing",
        ),
    ),
    "chunkr": (
        Decision(
            "Cancel",
            'Only from Starting; otherwise 400 "Task cannot be cancelled: status is X".',
            f"{_CHUNKR}test_cancel_is_refused_once_processing",
        ),
        Decision(
            "Cancel, then delete",
            "Cancelling a new task makes it Cancelled; a Cancelled task can be deleted too "
            "(the document lists only Succeeded and Failed, which would leave it forever).",
            f"{_CHUNKR}test_cancel_a_new_task_then_delete_it",
        ),
        Decision(
            "Cancel of a queued update",
            "Reverts the status, message and configuration the task had before the update.",
            f"{_CHUNKR}test_cancelling_a_queued_update_reverts_everything",
        ),
        Decision(
            "A failed re-run",
            "Reverts to the previous result, with the finish time of the re-run.",
            f"{_CHUNKR}test_a_failed_rerun_reverts_and_finishes_now",
        ),
        Decision(
            "Update",
            'Only from Succeeded or Failed; otherwise 400 "Task cannot be updated: status is X".',
            f"{_CHUNKR}test_update_is_refused_unless_succeeded_or_failed",
        ),
        Decision(
            "Merging an update",
            "Field by field: a given value wins, every other field keeps its value.",
            "tests/test_chunkr_configuration.py::test_given_fields_win_and_others_are_kept",
        ),
        Decision(
            "Segment settings",
            "Merged per segment type: the types an update does not name keep their settings.",
            "tests/test_chunkr_configuration.py::test_segment_types_not_given_keep_their_settings",
        ),
        Decision(
            "`null` in a configuration",
            "The same as leaving the field out.",
            "tests/test_chunkr_configuration.py::test_null_is_the_same_as_leaving_a_field_out",
        ),
        Decision(
            "An update that changes nothing",
            "Refused with 400: the merged configuration must differ from the current one.",
            f"{_CHUNKR}test_an_update_that_changes_nothing_is_refused",
        ),
        Decision(
            "Delete while running",
            'Refused with 400 "Task cannot be deleted: status is X".',
            f"{_CHUNKR}test_delete_is_refused_while_the_task_runs",
        ),
        Decision(
            "Expiry",
            'An expired task is 404 "Task not found" for every operation.',
            f"{_CHUNKR}test_an_expired_task_is_not_found_for_every_operation",
        ),
        Decision(
            "Timestamps",
            "`started_at` at pickup, `finished_at` at success and "
            "`expires_at = finished_at + expires_in` (null without `expires_in`).",
            f"{_CHUNKR}test_the_worker_picks_up_succeeds_and_sets_the_timestamps",
        ),
        Decision(
            "A failed new task",
            "Gets its failure message, `finished_at` and `expires_at` as a succeeded one does.",
            f"{_CHUNKR}test_a_failed_new_task_gets_its_message_and_finish_times",
        ),
        Decision(
            "Refusals",
            "Plain-text bodies with the real server's messages, not JSON.",
            f"{_CHUNKR_HTTP}test_refusals_are_plain_text_with_the_servers_messages",
        ),
        Decision(
            "Cancel's method",
            "A GET, as the document writes it; other methods on the path are 405.",
            f"{_CHUNKR_HTTP}test_cancel_is_a_get_and_odd_paths_are_404_or_405",
        ),
        Decision(
            "Authentication",
            "The key is the whole `Authorization` header, as the client sends it; a missing "
            "or unknown key is 401.",
            f"{_CHUNKR_HTTP}test_a_missing_or_unknown_key_is_401",
        ),
        Decision(
            "Usage limit",
            'A create over the limit is 429 "Usage limit exceeded" with `Retry-After`.',
            f"{_CHUNKR_HTTP}test_over_the_usage_limit_a_create_is_429_with_retry_after",
        ),
        Decision(
            "Output options",
            "`include_chunks` defaults to true and `base64_urls` to false; chunks appear "
            "only once Succeeded.",
            f"{_CHUNKR_HTTP}test_include_chunks_and_base64_urls",
        ),
        Decision(
            "Another user's task",
            "Not found, for every operation.",
            f"{_CHUNKR}test_another_users_task_is_not_found_for_every_operation",
        ),
    ),
    "visual_layer": (
        Decision(
            "Which tasks abort and retry",
            "Only DATASET_CREATION tasks; any other type is refused.",
            f"{_VL}test_only_dataset_creation_is_aborted_or_retried",
        ),
        Decision(
            "Abort",
            "From INITIALIZING or RUNNING: ABORTED with `end_time` now, progress kept.",
            f"{_VL}test_abort_a_running_dataset_creation",
        ),
        Decision(
            "Abort in the commit phase",
            'Refused with 409 ("Task cannot be aborted"); nothing changes.',
            f"{_VL}test_abort_in_the_commit_phase_is_refused_and_changes_nothing",
        ),
        Decision(
            "Retry",
            "Back to INITIALIZING with the same task id and configuration; `end_time`, "
            "`error_message` and `progress_percentage` cleared.",
            f"{_VL}test_retry_resets_to_initializing_with_the_same_id_and_configuration",
        ),
        Decision(
            "Retry of a task that did not fail",
            "Only FAILED and ABORTED tasks retry; a completed or running one is refused with 400.",
            f"{_VL}test_completed_and_running_tasks_are_not_retried",
        ),
        Decision(
            "A failed task",
            "Keeps its progress and names its error in `error_message`.",
            f"{_VL}test_a_failed_task_keeps_its_progress_and_names_its_error",
        ),
        Decision(
            "Abort's and retry's answer",
            "The bare task object, with no envelope.",
            "tests/test_visual_layer_http.py::test_abort_and_retry_answer_the_bare_task_object",
        ),
        Decision(
            "Bad list parameters",
            "422 naming the parameter, never clamped to a valid value.",
            f"{_VL}test_a_bad_parameter_is_422_naming_it_never_clamped",
        ),
        Decision(
            "Filters, sort and ties",
            "Bounds are inclusive, names match exactly, ties are broken by task id "
            "ascending, and the filter options are the distinct values of the visible "
            "tasks, sorted.",
            f"{_VL}test_list_and_filter_options_equal_the_oracle",
        ),
        Decision(
            "A page past the end",
            "200 with `tasks: []` and the true `total`.",
            f"{_VL}test_a_page_past_the_end_is_empty_with_the_true_total",
        ),
        Decision(
            "A dataset the caller cannot see",
            "Filtering on its id lists nothing (not 404).",
            "tests/test_visual_layer_listing.py::test_a_dataset_id_filter_naming_a_dataset_the_caller_cannot_see_lists_nothing",
        ),
        Decision(
            "Unknown query parameters",
            "Ignored.",
            "tests/test_visual_layer_http.py::test_unknown_query_parameters_are_ignored",
        ),
        Decision(
            "Time bounds",
            "A bound outside the calendar once read as UTC is 422.",
            "tests/test_visual_layer_probe_fixes.py::test_a_time_bound_outside_the_calendar_in_utc_is_422",
        ),
        Decision(
            "Another user's task",
            "404: a task on a dataset the caller cannot see is not found.",
            f"{_VL}test_another_users_task_is_not_found",
        ),
        Decision(
            "A token that names nobody",
            "401.",
            "tests/test_visual_layer_probe_fixes.py::test_a_token_that_names_nobody_is_401",
        ),
    ),
}
"""API (the keys of :data:`API_DOCUMENTS`) -> its decisions, in the order the page lists
them."""
