"""Domain exceptions. Only the CLI turns them into a message and an exit code."""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: a failure the user should read as one sentence."""


class ConfigError(PipelineError):
    """A setting is missing or invalid."""


class FileRejected(PipelineError):
    """A landed file cannot be ingested as a whole (not CSV, no header, unknown dataset, ...).

    ``code`` is a stable machine-readable reason written to ``<name>.error.json``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class FileChanged(PipelineError):
    """A landed file changed after it was picked up (a copy still in progress, a rewrite in place).

    Nothing of it was committed; it stays in landing/ and is taken again once it is complete.
    """


class QualityGateFailed(PipelineError):
    """The Soda scan of a batch had failing checks; the batch is not published."""


class BatchWithheld(QualityGateFailed):
    """The gate withheld the batch (failing checks, or drift under ``drift_action = withhold``).

    ``code`` is the ledger's error code: ``quality_gate_failed`` or ``drift_found``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TransformFailed(PipelineError):
    """dbt build reported an error (model error or error-severity test failure)."""


class WarehouseLocked(PipelineError):
    """Another process held the DuckDB file lock for longer than the configured timeout."""


class WarehouseUnusable(PipelineError):
    """The warehouse file is corrupt, not a DuckDB file, or missing while history exists."""
