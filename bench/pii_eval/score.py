"""Score any redactor against the corpus, from its output text alone.

The scorer never looks at *how* a redactor marks what it removed (tags,
asterisks, hashes, deletion): it only asks whether each ground-truth value
can still be read in the output, whether each decoy can still be read, and
whether messages without PII came back untouched. The rules are in SPEC.md;
in short:

* person_name: every name part of >= 2 letters is gone as a whole word
  (case-insensitive).
* other PII: the value is gone as a token (case-insensitive), so are its
  identifying fragments (e-mail local part, handle, URL secrets, street line),
  and when it has >= 6 digits no 6-digit window of them is left in the
  output's digits-only text.
* decoy: its exact value string is still in the output.
* clean message: output == input.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

Redactor = Callable[[list[str]], list[str]]
MessageLike = Union[Mapping[str, Any], Any]  # noqa: UP007 (a runtime alias; Any does not take |)

DIGIT_WINDOW = 6
_NON_DIGIT = re.compile(r"\D+")
_LETTER = r"[^\W\d_]"
_ADDRESS_PREFIX_WORDS = {"unit", "level", "lot", "apt", "po", "box", "shop", "suite"}


def _field(message: MessageLike, key: str) -> Any:
    if isinstance(message, Mapping):
        return message[key]
    return getattr(message, key)


def name_parts(value: str) -> list[str]:
    """Name parts of >= 2 letters: split on spaces and hyphens, dots dropped."""
    parts = [p.strip(".,") for p in re.split(r"[\s\-]+", value)]
    return [p for p in parts if sum(ch.isalpha() for ch in p) >= 2]


def _word_present(word: str, text: str) -> bool:
    pattern = rf"(?<!{_LETTER}){re.escape(word)}(?!{_LETTER})"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def _token_present(fragment: str, text: str) -> bool:
    pattern = rf"(?<![A-Za-z0-9]){re.escape(fragment)}(?![A-Za-z0-9])"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def _email_local(value: str) -> str:
    local = re.split(r"@|\s+at\s+|\[at\]|\s*\(at\)\s*", value, maxsplit=1, flags=re.IGNORECASE)[0]
    return local.strip()


def _street_line(value: str) -> str:
    segments = [s.strip() for s in re.split(r"[,\n]", value) if s.strip()]
    for segment in segments:
        words = [w for w in re.findall(r"[A-Za-z]+", segment) if w.lower() not in _ADDRESS_PREFIX_WORDS]
        if any(ch.isdigit() for ch in segment) and words:
            return segment
    return segments[0] if segments else value


def _url_secrets(value: str) -> list[str]:
    """Query values of >= 8 chars (not paths, not bare numbers) and long path tokens."""
    path, _, query = value.partition("?")
    secrets = []
    for piece in re.split(r"[&;]", query) + path.split(";")[1:]:
        _, eq, val = piece.partition("=")
        if eq and len(val) >= 8 and not val.startswith("/") and not val.isdigit():
            secrets.append(val)
    for segment in path.split(";")[0].split("/"):
        if len(segment) >= 16 and re.search(r"\d", segment) and "." not in segment:
            secrets.append(segment)
    return secrets


def fragments(pii_type: str, value: str) -> list[str]:
    """Strings that must all be unreadable for a non-name value to count as removed."""
    out = [value]
    if pii_type == "email":
        local = _email_local(value)
        if len(local) >= 3:
            out.append(local)
    elif pii_type == "social_handle":
        out.append(value.lstrip("@"))
    elif pii_type == "url_secret":
        out.extend(_url_secrets(value))
    elif pii_type == "address":
        out.append(_street_line(value))
    return out


def value_removed(pii_type: str, value: str, output: str) -> bool:
    """True when the ground-truth value can no longer be read in ``output``."""
    if pii_type == "person_name":
        return not any(_word_present(part, output) for part in name_parts(value))
    if any(_token_present(frag, output) for frag in fragments(pii_type, value)):
        return False
    digits = _NON_DIGIT.sub("", value)
    if len(digits) >= DIGIT_WINDOW:
        out_digits = _NON_DIGIT.sub("", output)
        for i in range(len(digits) - DIGIT_WINDOW + 1):
            if digits[i : i + DIGIT_WINDOW] in out_digits:
                return False
    return True


def decoy_intact(value: str, output: str) -> bool:
    return value in output


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def score_outputs(messages: Sequence[MessageLike], outputs: Sequence[str]) -> dict[str, Any]:
    """All figures for given outputs (one per message, same order)."""
    if len(messages) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs for {len(messages)} messages")
    pii_n, pii_ok, dec_n, dec_ok = Counter(), Counter(), Counter(), Counter()
    clean_n = clean_ok = 0
    for message, output in zip(messages, outputs):
        for span in _field(message, "spans"):
            pii_n[span["type"]] += 1
            pii_ok[span["type"]] += value_removed(span["type"], span["value"], output)
        for decoy in _field(message, "decoys"):
            dec_n[decoy["kind"]] += 1
            dec_ok[decoy["kind"]] += decoy_intact(decoy["value"], output)
        if not _field(message, "has_pii"):
            clean_n += 1
            clean_ok += output == _field(message, "text")
    return {
        "messages": len(messages),
        "pii": {t: {"n": pii_n[t], "removed": pii_ok[t], "recall": _ratio(pii_ok[t], pii_n[t])} for t in sorted(pii_n)},
        "pii_recall": _ratio(sum(pii_ok.values()), sum(pii_n.values())),
        "pii_values": sum(pii_n.values()),
        "decoys": {k: {"n": dec_n[k], "intact": dec_ok[k], "rate": _ratio(dec_ok[k], dec_n[k])} for k in sorted(dec_n)},
        "decoy_intact_rate": _ratio(sum(dec_ok.values()), sum(dec_n.values())),
        "decoy_values": sum(dec_n.values()),
        "clean": {"n": clean_n, "unchanged": clean_ok, "rate": _ratio(clean_ok, clean_n)},
        "clean_unchanged_rate": _ratio(clean_ok, clean_n),
    }


def score(redact: Redactor, messages: Sequence[MessageLike]) -> dict[str, Any]:
    """Run ``redact`` once over all message texts and score its outputs."""
    texts = [_field(m, "text") for m in messages]
    outputs = list(redact(list(texts)))
    return score_outputs(messages, outputs)


def misses(messages: Sequence[MessageLike], outputs: Sequence[str], limit: int = 10) -> dict[str, list[str]]:
    """Up to ``limit`` missed values per PII type (type -> values), for debugging."""
    found: dict[str, list[str]] = {}
    for message, output in zip(messages, outputs):
        for span in _field(message, "spans"):
            bucket = found.setdefault(span["type"], [])
            if len(bucket) < limit and not value_removed(span["type"], span["value"], output):
                bucket.append(span["value"])
    return {t: v for t, v in sorted(found.items()) if v}


def lost_decoys(messages: Sequence[MessageLike], outputs: Sequence[str], limit: int = 10) -> dict[str, list[str]]:
    """Up to ``limit`` decoy values per kind that the redactor destroyed."""
    found: dict[str, list[str]] = {}
    for message, output in zip(messages, outputs):
        for decoy in _field(message, "decoys"):
            bucket = found.setdefault(decoy["kind"], [])
            if len(bucket) < limit and not decoy_intact(decoy["value"], output):
                bucket.append(decoy["value"])
    return {k: v for k, v in sorted(found.items()) if v}


def perfect_redaction(text: str, spans: Iterable[Mapping[str, Any]], mark: str = "[X]") -> str:
    """The text with every ground-truth span replaced by ``mark`` (an oracle)."""
    out, last = [], 0
    for span in sorted(spans, key=lambda s: s["start"]):
        out.append(text[last : span["start"]])
        out.append(mark)
        last = span["end"]
    out.append(text[last:])
    return "".join(out)
