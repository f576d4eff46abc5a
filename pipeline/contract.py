"""The data contract in Python: datasets, their columns and types, and the rules rows are judged by.

This is the one statement of the contract on the Python side. The warehouse DDL
(:mod:`pipeline.store.db`), ingest's validation SQL (:mod:`pipeline.stages.ingest`) and the
quality gate read it from here; the dbt sources (``dbt/models/staging``) and the Soda checks
(``soda/<dataset>.yml``) state the same columns for their tools.
"""

from __future__ import annotations

#: Datasets in the order they are processed when both wait (chats refer to categories).
DATASETS = ("categories", "chats")

#: Raw layer columns shared by the audit (write) and raw (publish) schemas.
CHATS_COLUMNS = {
    "id": "UUID",
    "chat_category_id": "UUID",
    "created_at": "TIMESTAMP",  # UTC, naive
    "is_customer_initiated": "BOOLEAN",
    "resolved_at": "TIMESTAMP",  # UTC, naive
    "message": "VARCHAR",
}
CATEGORIES_COLUMNS = {
    "id": "UUID",
    "parent_id": "UUID",
    "disabled": "BOOLEAN",
}
DATASET_COLUMNS = {"categories": CATEGORIES_COLUMNS, "chats": CHATS_COLUMNS}

#: Header columns a file must have (values may still be empty where the contract allows it).
#: ``message`` is optional; a file without e.g. ``resolved_at`` would silently read as unresolved.
REQUIRED_COLUMNS = {
    "chats": ("id", "chat_category_id", "created_at", "is_customer_initiated", "resolved_at"),
    "categories": ("id", "parent_id", "disabled"),
}

#: Columns whose raw text is kept next to the typed value, to judge and quarantine a row.
CHECKED_COLUMNS = REQUIRED_COLUMNS

#: Lineage columns every raw row carries.
LINEAGE_COLUMNS = {
    "_extra": "JSON",  # unknown extra columns of the source file, kept as {name: value}
    "_batch_id": "VARCHAR",
    "_batch_seq": "BIGINT",  # arrival order of the batch (ledger seq)
    "_line_number": "BIGINT",  # record number in the source file, header = 1
    "_loaded_at": "TIMESTAMP",
}

#: Row-level reason codes (``meta.quarantine.reason_code``) and what each means.
REASONS = {
    "malformed_row": "the CSV reader could not parse the row",
    "missing_id": "id is empty",
    "invalid_id": "id is not a UUID",
    "duplicate_id_in_file": "id already appeared earlier in this file",
    "missing_created_at": "created_at is empty",
    "invalid_timestamp": "a timestamp is not a valid timestamp",
    "resolved_before_created": "resolved_at is earlier than created_at",
    "invalid_boolean": "a boolean is not one of true/false, t/f, 1/0, yes/no",
    "invalid_category_id": "a category id is neither empty nor a UUID",
    "self_parent": "parent_id equals id",
}

#: Boolean words (compared trimmed and case-insensitively).
TRUE_WORDS = ("true", "t", "1", "yes")
FALSE_WORDS = ("false", "f", "0", "no")
