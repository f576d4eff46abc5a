"""Fast checks of the independent PII evaluation set and its scorer.

They guard what makes the set usable as a yardstick: it is reproducible,
large and varied enough, its labels match its text, its identifiers are
arithmetically valid, and the scorer's figures are exact on cases small
enough to work out by hand.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bench.pii_eval import checks, corpus, frames, score


@pytest.fixture(scope="module")
def messages() -> list[corpus.Message]:
    return corpus.build()


def test_deterministic_for_a_seed() -> None:
    first = [m.to_dict() for m in corpus.build(n=300, seed=7)]
    again = [m.to_dict() for m in corpus.build(n=300, seed=7)]
    other = [m.to_dict() for m in corpus.build(n=300, seed=8)]
    assert first == again
    assert first != other


def test_size_and_clean_share(messages: list[corpus.Message]) -> None:
    assert len(messages) >= 3000
    assert len({m.id for m in messages}) == len(messages)
    clean = [m for m in messages if not m.has_pii]
    assert len(clean) / len(messages) >= 0.30
    assert all(not m.spans for m in clean)
    assert all(m.spans for m in messages if m.has_pii)
    assert sum(len(m.decoys) for m in messages) >= len(messages)
    assert max(len(m.spans) for m in messages) <= 4


def test_spans_and_decoys_match_text(messages: list[corpus.Message]) -> None:
    for m in messages:
        for label in m.spans + m.decoys:
            assert m.text[label["start"] : label["end"]] == label["value"], m.id
        marks = sorted((s["start"], s["end"]) for s in m.spans + m.decoys)
        assert all(a[1] <= b[0] for a, b in zip(marks, marks[1:])), m.id


def test_every_type_and_kind_is_well_represented(messages: list[corpus.Message]) -> None:
    types = Counter(s["type"] for m in messages for s in m.spans)
    kinds = Counter(d["kind"] for m in messages for d in m.decoys)
    assert set(types) == set(corpus.PII_TYPES)
    assert set(kinds) == set(corpus.DECOY_KINDS)
    assert min(types.values()) >= 60, types
    assert min(kinds.values()) >= 40, kinds


def test_frames_are_many_and_pii_frames_hold_pii() -> None:
    assert frames.FRAME_COUNT >= 150
    for frame in frames.PII_FRAMES:
        assert any(corpus.slot_type(s) for s in corpus.frame_slots(frame)), frame
    for frame in frames.CLEAN_FRAMES + frames.GREETINGS_PLAIN + frames.SIGNOFFS_PLAIN:
        assert not any(corpus.slot_type(s) for s in corpus.frame_slots(frame)), frame


def test_check_digits_are_valid(messages: list[corpus.Message]) -> None:
    validators = {
        "card": checks.luhn_valid,
        "tfn": checks.tfn_valid,
        "medicare": checks.medicare_valid,
        "abn": checks.abn_valid,
        "acn": checks.acn_valid,
    }
    for m in messages:
        for s in m.spans:
            if s["type"] in validators:
                assert validators[s["type"]](s["value"]), (s["type"], s["value"])


def test_check_functions_on_published_examples() -> None:
    assert checks.luhn_valid("4111 1111 1111 1111")
    assert not checks.luhn_valid("4111 1111 1111 1112")
    assert checks.tfn_valid("123 456 782")
    assert not checks.tfn_valid("123 456 781")
    assert checks.abn_valid("51 824 753 556")
    assert not checks.abn_valid("51 824 753 557")
    assert checks.acn_valid("004 085 616")
    assert not checks.acn_valid("004 085 617")
    assert checks.medicare_valid("2123 45670 1")
    assert not checks.medicare_valid("2123 45671 1")


def test_digit_decoys_fail_every_check(messages: list[corpus.Message]) -> None:
    for m in messages:
        for d in m.decoys:
            if d["kind"] in ("order_number", "tracking_number", "invoice_number"):
                if re.fullmatch(r"#?\d+", d["value"]):
                    assert not checks.passes_any_check(d["value"]), d["value"]


TINY = [
    {
        "id": "a",
        "text": "Hi Mai O'Brien, call 0412 345 678 about order #48213977.",
        "spans": [
            {"start": 3, "end": 14, "type": "person_name", "value": "Mai O'Brien"},
            {"start": 21, "end": 33, "type": "phone", "value": "0412 345 678"},
        ],
        "decoys": [{"start": 46, "end": 55, "kind": "order_number", "value": "#48213977"}],
        "has_pii": True,
    },
    {
        "id": "b",
        "text": "Version 7.16.11.243 fixed it, cheers.",
        "spans": [],
        "decoys": [{"start": 8, "end": 19, "kind": "version", "value": "7.16.11.243"}],
        "has_pii": False,
    },
]


def _oracle(texts: list[str]) -> list[str]:
    by_text = {m["text"]: m for m in TINY}
    return [score.perfect_redaction(t, by_text[t]["spans"]) for t in texts]


def test_scorer_identity_redactor() -> None:
    for m in TINY:
        for label in m["spans"] + m["decoys"]:
            assert m["text"][label["start"] : label["end"]] == label["value"]
    result = score.score(lambda texts: list(texts), TINY)
    assert result["pii_recall"] == 0.0
    assert result["decoy_intact_rate"] == 1.0
    assert result["clean_unchanged_rate"] == 1.0
    assert result["pii"]["phone"] == {"n": 1, "removed": 0, "recall": 0.0}


def test_scorer_oracle_redactor() -> None:
    result = score.score(_oracle, TINY)
    assert result["pii_recall"] == 1.0
    assert result["decoy_intact_rate"] == 1.0
    assert result["clean_unchanged_rate"] == 1.0


def test_scorer_blank_redactor() -> None:
    result = score.score(lambda texts: ["" for _ in texts], TINY)
    assert result["pii_recall"] == 1.0
    assert result["decoy_intact_rate"] == 0.0
    assert result["clean_unchanged_rate"] == 0.0


def test_scorer_partial_removal_counts_as_miss() -> None:
    outputs = ["Hi [NAME] O'Brien, call 0412 [PHONE] about order #48213977.", "Version 7.16.11.243 fixed it, cheers."]
    result = score.score_outputs(TINY, outputs)
    assert result["pii"]["person_name"]["removed"] == 0
    assert result["pii"]["phone"]["removed"] == 1  # no 6-digit window left
    assert score.misses(TINY, outputs) == {"person_name": ["Mai O'Brien"]}
    reformatted = ["Hi [N], call 0412345678 about order #48213977.", TINY[1]["text"]]
    assert score.score_outputs(TINY, reformatted)["pii"]["phone"]["removed"] == 0


def test_scorer_on_corpus_oracle(messages: list[corpus.Message]) -> None:
    sample = messages[:500]
    outputs = [score.perfect_redaction(m.text, m.spans) for m in sample]
    result = score.score_outputs(sample, outputs)
    assert result["pii_recall"] == 1.0
    assert result["decoy_intact_rate"] == 1.0
    assert result["clean_unchanged_rate"] == 1.0
