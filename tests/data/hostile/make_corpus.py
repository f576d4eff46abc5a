"""Regenerate the committed hostile-input corpus (small files only) in this folder.

    .venv/bin/python tests/data/hostile/make_corpus.py

Big or filesystem-special inputs (200 MB line, 10k columns, symlink, FIFO, growing file)
are built at test time by tests/test_hostile.py, never committed.
"""
from __future__ import annotations

import gzip
from pathlib import Path

HERE = Path(__file__).resolve().parent
H = "id,chat_category_id,created_at,is_customer_initiated,resolved_at,message"
CH = "id,parent_id,disabled"


def u(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-000000000000"


def row(i: int, msg: str = "hello", cat: str = "", created: str = "2023-03-01 10:00:00",
        init: str = "true", resolved: str = "2023-03-01 11:00:00", ident: str | None = None) -> str:
    return ",".join([u(i) if ident is None else ident, cat, created, init, resolved, msg])


def good(n: int, start: int = 1) -> list[str]:
    return [row(start + i, f"hello {i}") for i in range(n)]


def lines(*parts, eol: str = "\n", final: bool = True) -> bytes:
    text = eol.join(parts) + (eol if final else "")
    return text.encode("utf-8")


FILES: dict[str, bytes] = {}


def add(name: str, data: bytes | str) -> None:
    FILES[name] = data.encode("utf-8") if isinstance(data, str) else data


# --- whole-file level
add("binary_garbage_chats.csv", bytes((i * 37 + 11) % 256 for i in range(4096)))
add("empty_chats.csv", b"")
add("whitespace_only_chats.csv", b"   \n\t\n  \r\n\n")
add("header_only_chats.csv", lines(H))
add("header_only_no_newline_chats.csv", lines(H, final=False))
add("duplicate_header_chats.csv", lines("id,chat_category_id,created_at,is_customer_initiated,resolved_at,id", row(1)))
add("duplicate_header_case_chats.csv", lines("id,chat_category_id,created_at,is_customer_initiated,resolved_at,ID", row(1)))
add("missing_columns_chats.csv", lines("id,created_at,message", f"{u(1)},2023-03-01 10:00:00,hi"))
add("empty_header_name_chats.csv", lines(H + ",", row(1) + ","))
add("json_pretending_chats.csv", '[{"id": "%s", "created_at": "2023-03-01 10:00:00"}]\n' % u(1))
add("json_multiline_chats.csv", '{\n  "id": "%s",\n  "created_at": "2023-03-01"\n}\n' % u(1))
add("utf16_bom_chats.csv", ("\ufeff" + H + "\r\n" + row(1) + "\r\n").encode("utf-16-le"))
add("latin1_header_chats.csv", (H + ",caf\xe9\n" + row(1) + ",x\n").encode("latin-1"))
add("cr_only_chats.csv", lines(H, *good(3), eol="\r"))
add("corrupt_gzip_chats.csv.gz", gzip.compress(lines(H, *good(50)))[:60] + b"\x00garbage")
add("gzip_valid_chats.csv.gz", gzip.compress(lines(H, *good(5)), mtime=0))
add("gzip_of_binary_chats.csv.gz", gzip.compress(bytes(range(256)) * 4, mtime=0))
add("not_gzip_but_gz_chats.csv.gz", lines(H, *good(2)))

# --- format variants that must load
add("crlf_chats.csv", lines(H, *good(4), eol="\r\n"))
add("bom_header_chats.csv", b"\xef\xbb\xbf" + lines(H, *good(3)))
add("header_trailing_spaces_chats.csv", lines(" id , chat_category_id ,created_at  ,is_customer_initiated,resolved_at ,message ", *good(3)))
add("header_uppercase_reordered_chats.csv", lines("MESSAGE,Resolved_At,Is_Customer_Initiated,Created_At,Chat_Category_Id,ID",
                                                  "hi,2023-03-01 11:00:00,false,2023-03-01 10:00:00,," + u(1)))
add("empty_lines_chats.csv", lines(H, "", row(1), "", "", row(2), "   ", row(3), ""))
add("no_final_newline_chats.csv", lines(H, *good(3), final=False))
add("extra_column_chats.csv", lines(H + ",agent", row(1) + ",bob", row(2) + ",alice"))
add("formulas_chats.csv", lines(H,
    row(1, msg="\"=cmd|' /C calc'!A0\""),
    row(2, msg="+SUM(1+1)*cmd|' /C calc'!A0"),
    row(3, msg="@x"),
    row(4, msg="-2+3"),
    row(5, msg="=HYPERLINK(\"\"http://evil\"\")", ),
    row(6, msg="\"=HYPERLINK(\"\"http://evil\"\")\""),
))
add("unicode_message_chats.csv", lines(H,
    row(1, msg="emoji 😀👍🏽👨‍👩‍👧"),
    row(2, msg="中文消息 日本語 한국어"),
    row(3, msg="\u202eRTL override עברית العربية"),
    row(4, msg="combining e\u0301 and \u00a0nbsp"),
))
add("win1252_smart_quotes_chats.csv", lines(H, row(1), row(2, msg="plain")).replace(b"hello", b"\x93hello\x94 it\x92s"))
add("mixed_latin1_line_chats.csv", lines(H, row(1)) + row(2, msg="caf").encode() + b"\xe9 cr\xe8me\n" + lines(row(3)))
add("nul_in_data_line_chats.csv", lines(H, *good(2)) + row(3, msg="nul").encode() + b"\x00inside\n" + lines(row(4)))
add("very_long_field_chats.csv", lines(H, row(1, msg="A" * 300_000), row(2)))
add("multiline_quoted_chats.csv", lines(H, row(1, msg="\"line one\nline two\nline three\""), row(2)))
# DuckDB 1.4's parallel reader refuses padding with these line breaks; ingest reads them serially.
add("short_line_breaks_chats.csv", lines(H, row(1, msg="\"a\nb\""), row(2, msg="\"x\n\ny\""),
                                         ",".join(row(3).split(",")[:4]), row(4)))

# --- row-level defects
add("unterminated_quote_mid_chats.csv", lines(H, row(1), row(2, msg="\"never closed"), row(3), row(4)))
add("stray_quotes_chats.csv", lines(H, row(1), row(2, msg="he said \"hi\" there"), row(3, msg="\"quoted\"trailing"), row(4)))
add("extra_missing_fields_chats.csv", lines(H, row(1), row(2) + ",surplus", ",".join(row(3).split(",")[:4]), row(4)))
add("zero_width_ids_chats.csv", lines(H, row(1), row(2, ident="\u200b" + u(2)), row(3, ident=u(3)[:8] + "\u200d" + u(3)[8:]),
                                       row(4, ident="\ufeff" + u(4))))
add("ids_braces_upper_chats.csv", lines(H,
    row(1, ident="{" + u(0xabcdef1) + "}"),
    row(2, ident=u(0xabcdef2).upper()),
    row(3, ident=u(0xabcdef3).replace("-", "")),
    row(4, ident="{" + u(0xabcdef4).upper().replace("-", "") + "}"),
    row(5, ident="  " + u(0xabcdef5) + "  "),
    row(6, ident=u(0xabcdef6)[:-1] + "g"),
))
add("timestamps_extreme_chats.csv", lines(H,
    row(1, created="1899-12-31 23:59:59", resolved=""),
    row(2, created="1900-01-01 00:00:00", resolved=""),
    row(3, created="2199-12-31 23:59:59", resolved=""),
    row(4, created="2200-01-02 00:00:00", resolved=""),
    row(5, created="0001-01-01 00:00:00", resolved=""),
    row(6, created="9999-12-31 23:59:59", resolved=""),
    row(7, created="infinity", resolved=""),
    row(8, created="2023-03-01 10:00:00", resolved="-infinity"),
    row(10, created="2023-03-01T10:00:00Z", resolved="2023-03-01T12:00:00+02:00"),
    row(11, created="2023-02-30 10:00:00", resolved=""),
    row(12, created="1700000000", resolved=""),
    row(13, created="epoch", resolved=""),
    row(14, created="now", resolved=""),
))
add("date_without_time_chats.csv", lines(H, row(1, created="2023-03-01", resolved=""), row(2, resolved="2023-03-02"), row(3)))
add("booleans_odd_case_chats.csv", lines(H,
    row(1, init="TRUE"), row(2, init="False"), row(3, init="yEs"), row(4, init="NO"), row(5, init="T"),
    row(6, init=" f "), row(7, init="1"), row(8, init="0"), row(9, init=""), row(10, init="y"),
    row(11, init="on"), row(12, init="2"), row(13, init="truee"),
))
add("null_strings_chats.csv", lines(H,
    row(1, cat="null"), row(2, cat="NULL"), row(3, cat="None"),
    row(4, init="null"), row(5, resolved="NULL"), row(6, ident="null"), row(7, created="None"),
    row(8, msg="null"), row(9, ident="None"), row(10, cat="nan"),
))
add("all_rows_invalid_chats.csv", lines(H,
    row(1, ident=""), row(2, ident="not-a-uuid"), row(3, created=""), row(4, created="yesterday"),
    row(5, init="maybe"), row(6, cat="xyz"), row(7, created="2023-03-02 10:00:00", resolved="2023-03-01 10:00:00"),
    row(8) + ",extra", row(9, created="2023-03-01 10:00:00", resolved="-infinity"), row(10, ident=u(1)[:-1]),
))
add("stray_quotes_blank_line_chats.csv", lines(H, row(1), row(2, msg="he said \"hi\" there"), row(3, msg="\"quoted\"trailing"), row(4), ""))

# --- categories
add("cycle_categories.csv", lines(CH,
    f"{u(0xa)},{u(0xb)},false", f"{u(0xb)},{u(0xa)},", f"{u(0xc)},{u(0xc)},true",
    f"{u(0xd)},NULL,", f"{u(0xe)},null,TRUE", f"{u(0xf)},None,", f"{u(0x10)},,Yes"))
add("categories_null_disabled_categories.csv", lines(CH, f"{u(0x20)},,null", f"{u(0x21)},,NULL", f"{u(0x22)},,None", f"{u(0x23)},,"))

# a cycle a->b->a with `disabled` empty on both (inheritance never finds a value), a self-parent,
# and children of the cycle; fewer than 10 empty `disabled` so the Soda gate passes: full-chain case
add("cycle_chain_categories.csv", lines(CH, f"{u(0xa)},{u(0xb)},", f"{u(0xb)},{u(0xa)},", f"{u(0xc)},{u(0xc)},false",
    *[f"{u(0x30 + i)},{u(0xa) if i % 2 else ''},{'true' if i % 3 else 'false'}" for i in range(10)]))

# --- name-level (content is a valid chats file)
VALID = lines(H, *good(2, start=0x100))
add("..%2f..%2fchats.csv", VALID)
add("chäts_ü.csv", lines(H, *good(2, start=0x200)))
add("my chats file.csv", lines(H, *good(2, start=0x300)))
add("-rf_chats.csv", lines(H, *good(2, start=0x400)))
add("CHATS_UPPER.CSV", lines(H, *good(2, start=0x500)))
add("orders.csv", lines(H, *good(2, start=0x600)))


def main() -> None:
    for name, data in FILES.items():
        (HERE / name).write_bytes(data)
    total = sum(len(d) for d in FILES.values())
    print(f"{len(FILES)} files, {total} bytes")


if __name__ == "__main__":
    main()
