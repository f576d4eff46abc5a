"""Redaction stage: the shareable layer ``warehouse/share.duckdb``, built only from redacted data.

Access control is by file: the restricted warehouse (``warehouse.duckdb``, owner-only 0600,
raw messages for the compliance group) and the share file (no free text in clear, no
person identifiers in clear) that analysts and dashboards may open. What is PII comes from
one list, the ``meta: {pii: …}`` markers in the dbt model yml (:mod:`pipeline.privacy.catalog`):

* ``pii: true`` / ``free_text`` — free text: typed placeholders via
  :func:`pipeline.privacy.patterns.redact_sql` (vectorised DuckDB SQL);
* ``pii: identifier`` (and any column named in the ``pii_identifier_columns`` setting) —
  replaced by a keyed hash, HMAC-SHA256 with a secret key, so joins still work but values
  cannot be reversed by hashing a dictionary of candidates (an unsalted hash can).

The share file is built under a temporary name and moved into place, so readers see the
previous complete file or the new one. It also carries ``batches`` (which batches the layer
holds), so the export reads nothing but the share layer.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog

from pipeline.logs import stage
from pipeline.privacy import patterns
from pipeline.privacy.catalog import classify_columns
from pipeline.privacy.pseudonyms import pseudonym_key, pseudonymise
from pipeline.settings import Settings
from pipeline.store import db, ledger

log = structlog.get_logger()

#: Share tables and the warehouse relation each one is built from (one row per chat / category).
SHARE_TABLES = {
    "chats": "staging.stg_support__chats",
    "categories": "intermediate.int_categories_resolved",
}
#: Analytical columns joined onto share.chats from the localized intermediate model.
LOCAL_COLUMNS = ("category_group_id", "is_category_known", "is_category_disabled", "created_at_local",
                 "resolved_at_local", "created_date_local", "resolved_date_local", "created_weekday_local",
                 "created_hour_local", "resolution_hours")
#: Lineage columns that stay in the restricted warehouse.
DROPPED = {"batch_id", "line_number"}


def _columns(con, relation: str) -> list[str]:
    schema, table = relation.split(".")
    return [r[0] for r in con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [schema, table]).fetchall()]


def _select_list(columns: list[str], kinds: dict[str, str], identifiers: set[str], alias: str,
                 rename: dict[str, str] | None = None) -> str:
    """The share's SELECT list: free text redacted, identifiers pseudonymised, lineage dropped."""
    exprs = []
    for column in columns:
        if column in DROPPED:
            continue
        ref, name = f"{alias}.{column}", (rename or {}).get(column, column)
        if kinds.get(column) == "identifier" or column in identifiers:
            exprs.append(f"pseudonym({ref}::varchar) as {name}")
        elif kinds.get(column) == "free_text":
            exprs.append(f"{patterns.redact_sql(ref)} as {name}")
        else:
            exprs.append(f"{ref} as {name}")
    return ", ".join(exprs)


def _share_batches(con) -> None:
    """``share.batches``: the published batches the layer holds (no raw values, no errors)."""
    con.execute("create table share.batches (batch_id varchar, seq bigint, dataset varchar, file varchar, "
                "rows_loaded bigint)")
    rows = [(b["batch_id"], b["seq"], b["dataset"], b["file"], b["rows_loaded"]) for b in ledger.published(con)]
    if rows:
        con.executemany("insert into share.batches values (?, ?, ?, ?, ?)", rows)


def _publish_share(built: Path, share_db: Path) -> None:
    """Swap a freshly built share file into place so no reader session can change what it shows.

    Read-only for everyone (0444): analysts open it with ``read_only=True``; a read-write
    session would leave a WAL that DuckDB replays onto the *next* published file. Stale side
    files (``.wal``) are removed before and after the rename for the same reason.
    """
    os.chmod(built, 0o444)
    wal = share_db.with_name(share_db.name + ".wal")
    wal.unlink(missing_ok=True)
    os.replace(built, share_db)
    wal.unlink(missing_ok=True)


def build_share(settings: Settings) -> dict[str, Any]:
    """Rebuild ``share.duckdb`` from the warehouse: redacted chats, categories and every mart."""
    key = pseudonym_key(settings)
    kinds = classify_columns(settings)
    identifiers = set(settings.pii_identifier_columns)
    tmp = settings.warehouse / ".share.duckdb.tmp"
    tmp.unlink(missing_ok=True)
    with stage("redact") as summary, db.connect(settings) as con:
        patterns.install_macros(con)
        con.create_function("pseudonym", lambda v: pseudonymise(key, v), ["VARCHAR"], "VARCHAR",
                            null_handling="special", side_effects=False)
        con.execute(f"attach {db.sql_literal(str(tmp))} as share")
        try:
            chats_rel = SHARE_TABLES["chats"]
            chat_cols = _select_list(_columns(con, chats_rel), kinds.get(chats_rel, {}), identifiers, "c",
                                     rename={"chat_id": "id"})
            local = ", ".join(f"l.{c}" for c in LOCAL_COLUMNS)
            con.execute(f"""
                create table share.chats as
                select {chat_cols}, {local}
                from {chats_rel} as c
                left join intermediate.int_chats_localized as l on l.chat_id = c.chat_id""")
            cats_rel = SHARE_TABLES["categories"]
            cat_cols = _select_list(_columns(con, cats_rel), kinds.get(cats_rel, {}), identifiers, "k")
            con.execute(f"create table share.categories as select {cat_cols} from {cats_rel} as k")
            marts = [r[0] for r in con.execute(
                "select table_name from duckdb_tables() where database_name = current_database() "
                "and schema_name = 'marts' order by 1").fetchall()]
            for mart in marts:
                con.execute(f"create table share.{mart} as select * from marts.{mart}")
            _share_batches(con)
            counts = {t: con.execute(f"select count(*) from share.{t}").fetchone()[0]
                      for t in ("chats", "categories", *marts, "batches")}
            redacted = con.execute(
                "select count(*) filter (where message like '%[%]%') from share.chats").fetchone()[0]
        finally:
            con.execute("detach share")
        _publish_share(tmp, settings.share_db)
        summary.update(tables=len(counts), chats=counts["chats"], messages_with_placeholders=redacted)
    return {"share_db": str(settings.share_db), "tables": counts, "messages_with_placeholders": redacted}
