"""Seeded generator of the independent PII evaluation corpus.

Why a generator and not a file: the set must be reproducible bit for bit from
(n, seed), reviewable as code, and written from SPEC.md alone, never from the
redactor under test. Each message is assembled from sentence frames
(frames.py) whose slots are filled by value generators (values.py); every
PII value becomes a ground-truth span and every look-alike a decoy, with
character offsets recorded as the text is built. A message is kept only if
the oracle redaction (each span replaced by "[X]") scores as fully removed
with every decoy intact, so the scorer and the labels cannot disagree.

    python -m bench.pii_eval.corpus --out /tmp/pii_eval.jsonl [--n 4000] [--seed 20261201]
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.pii_eval import frames, score, values, vocab

DEFAULT_N = 4000
DEFAULT_SEED = 20261201
CLEAN_SHARE = 0.36
MAX_PII_PER_MESSAGE = 4

Gen = Callable[[random.Random], str]


@dataclass
class Message:
    id: str
    text: str
    spans: list[dict[str, Any]] = field(default_factory=list)
    decoys: list[dict[str, Any]] = field(default_factory=list)
    has_pii: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bsb_and_account(rng: random.Random) -> str:
    return f"{values.bsb(rng)}{rng.choice((' ', '/', ' / '))}{values.account_number(rng)}"


# slot -> (PII type, generator); names are handled separately (they carry tags)
PII_SLOTS: dict[str, tuple[str, Gen]] = {
    "email": ("email", values.email),
    "phone": ("phone", values.phone),
    "mobile": ("phone", values.mobile),
    "landline": ("phone", values.landline),
    "intl": ("phone", values.international_phone),
    "bizphone": ("phone", values.business_number),
    "card": ("card", values.card),
    "exp": ("card_expiry", values.card_expiry),
    "cvv": ("cvv", values.cvv),
    "tfn": ("tfn", values.tfn),
    "medicare": ("medicare", values.medicare),
    "abn": ("abn", values.abn),
    "acn": ("acn", values.acn),
    "bsb": ("bsb_account", values.bsb),
    "acct": ("bsb_account", values.account_number),
    "bsbacct": ("bsb_account", _bsb_and_account),
    "dl": ("driver_licence", values.driver_licence),
    "passport": ("passport", values.passport),
    "dob": ("dob", values.dob),
    "addr": ("address", values.address),
    "ip4": ("ipv4", values.ipv4),
    "ip6": ("ipv6", values.ipv6),
    "url": ("url_secret", values.url_secret),
    "handle": ("social_handle", values.social_handle),
}
NAME_SLOTS = ("first", "full", "agent")

DECOY_SLOTS: dict[str, tuple[str, Gen]] = {
    "order": ("order_number", values.order_number),
    "invoice": ("invoice_number", values.invoice_number),
    "ticket": ("ticket_number", values.ticket_number),
    "tracking": ("tracking_number", values.tracking_number),
    "booking": ("booking_ref", values.booking_ref),
    "price": ("price", values.price),
    "time": ("time", values.time_of_day),
    "date": ("date", values.event_date),
    "version": ("version", values.version),
    "err": ("error_code", values.error_code),
    "store": ("store_number", values.store_number),
    "brand": ("brand", lambda rng: rng.choice(vocab.BRANDS)),
    "city": ("city", lambda rng: rng.choice(vocab.CITIES)),
    "place": ("place", lambda rng: rng.choice(vocab.PLACES)),
    "qty": ("quantity", values.quantity),
    "pct": ("percentage", values.percentage),
    "link": ("public_url", values.public_url),
}

NEUTRAL_SLOTS: dict[str, Gen] = {
    "product": lambda rng: rng.choice(vocab.PRODUCTS),
    "platform": lambda rng: rng.choice(vocab.PLATFORMS),
    "state": lambda rng: rng.choice(tuple(vocab.STATE_LONG)),
    "age": lambda rng: str(rng.randint(70, 94)),
}

PII_TYPES: tuple[str, ...] = tuple(dict.fromkeys(["person_name"] + [t for t, _ in PII_SLOTS.values()]))
DECOY_KINDS: tuple[str, ...] = tuple(k for k, _ in DECOY_SLOTS.values())

_SLOT = re.compile(r"(\{[a-z0-9]+\})")
SLANG = {
    "you": "u",
    "please": "pls",
    "thanks": "thx",
    "because": "cos",
    "about": "abt",
    "your": "ur",
    "are": "r",
    "tomorrow": "tmrw",
    "message": "msg",
    "really": "rly",
}
EMOJIS = (" 🙂", " 😡", " 🙏", " 😅", " 👍", " 😤", " 🤞", " 😭")


def slot_type(slot: str) -> str | None:
    """The PII type a slot produces, or None for decoy and neutral slots."""
    if slot in NAME_SLOTS:
        return "person_name"
    return PII_SLOTS[slot][0] if slot in PII_SLOTS else None


def frame_slots(frame: str) -> list[str]:
    return [piece[1:-1] for piece in _SLOT.findall(frame)]


def _name_value(slot: str, rng: random.Random) -> tuple[str, bool]:
    if slot == "full":
        name, common = values.full_name(rng)
        return values.styled(rng, name), common
    name, common = values.given_name(rng)
    if slot == "agent":
        return name, common
    return values.styled(rng, name, lower_rate=0.2), common


class _Builder:
    """Accumulates text and records the offsets of every labelled value."""

    def __init__(self, rng: random.Random, style: str) -> None:
        self.rng, self.style = rng, style
        self.parts: list[str] = []
        self.length = 0
        self.spans: list[dict[str, Any]] = []
        self.decoys: list[dict[str, Any]] = []

    def literal(self, text: str) -> None:
        self._append(_restyle(self.rng, text, self.style))

    def raw(self, text: str) -> None:
        self._append(text)

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def labelled(self, text: str, record: dict[str, Any], bucket: list[dict[str, Any]]) -> None:
        bucket.append({"start": self.length, "end": self.length + len(text), **record, "value": text})
        self._append(text)

    def frame(self, frame: str) -> None:
        for piece in _SLOT.split(frame):
            if not piece:
                continue
            if not _SLOT.fullmatch(piece):
                self.literal(piece)
                continue
            self.fill(piece[1:-1])

    def fill(self, slot: str) -> None:
        rng = self.rng
        if slot in NAME_SLOTS:
            text, common = _name_value(slot, rng)
            record: dict[str, Any] = {"type": "person_name"}
            if common:
                record["tags"] = ["common_word"]
            self.labelled(text, record, self.spans)
        elif slot in PII_SLOTS:
            pii_type, gen = PII_SLOTS[slot]
            self.labelled(gen(rng), {"type": pii_type}, self.spans)
        elif slot in DECOY_SLOTS:
            kind, gen = DECOY_SLOTS[slot]
            self.labelled(gen(rng), {"kind": kind}, self.decoys)
        else:
            self.raw(NEUTRAL_SLOTS[slot](rng))

    def text(self) -> str:
        return "".join(self.parts)


def _restyle(rng: random.Random, text: str, style: str) -> str:
    """Chat-style noise on template words only (never on labelled values)."""
    if style == "plain" or not text.strip():
        return text
    if style in ("casual", "slang"):
        text = text.lower().replace("'", "")
    if style == "slang":
        text = re.sub(r"[a-z]+", lambda m: SLANG.get(m.group(0), m.group(0)), text)
    if style == "typo":
        text = re.sub(r"[A-Za-z]{5,}", lambda m: _typo(rng, m.group(0)), text)
    return text


def _typo(rng: random.Random, word: str) -> str:
    if rng.random() > 0.12:
        return word
    i = rng.randint(1, len(word) - 2)
    kind = rng.randint(0, 2)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap
    if kind == 1:
        return word[:i] + word[i + 1 :]  # drop
    return word[:i] + word[i] + word[i:]  # double


class _FramePicker:
    """Picks PII frames by type first, so rare types get enough examples."""

    WEIGHTS = {"person_name": 3.0, "email": 2.0, "phone": 3.0, "card": 1.5, "address": 1.5}

    def __init__(self) -> None:
        self.by_type: dict[str, list[str]] = {}
        for frame in frames.PII_FRAMES:
            for pii_type in {slot_type(s) for s in frame_slots(frame)} - {None}:
                self.by_type.setdefault(pii_type, []).append(frame)
        self.types = sorted(self.by_type)
        self.weights = [self.WEIGHTS.get(t, 1.0) for t in self.types]

    def pick(self, rng: random.Random) -> str:
        pii_type = rng.choices(self.types, weights=self.weights)[0]
        return rng.choice(self.by_type[pii_type])


_PICKER = _FramePicker()


def _plan(rng: random.Random, want_pii: bool) -> list[tuple[str, str]]:
    """The (role, frame) sequence of one message: greeting, body, sign-off."""
    plan: list[tuple[str, str]] = []
    if want_pii:
        roll = rng.random()
        if roll < 0.30:
            plan.append(("greeting", rng.choice(frames.GREETINGS_NAMED)))
        elif roll < 0.70:
            plan.append(("greeting", rng.choice(frames.GREETINGS_PLAIN)))
        body = [_PICKER.pick(rng) for _ in range(rng.choice((1, 1, 1, 2, 2, 3)))]
        if rng.random() < 0.4:
            body.insert(rng.randint(0, len(body)), rng.choice(frames.CLEAN_FRAMES))
        plan += [("body", f) for f in body]
        roll = rng.random()
        if roll < 0.25:
            plan.append(("signoff", rng.choice(frames.SIGNOFFS_NAMED)))
        elif roll < 0.55:
            plan.append(("signoff", rng.choice(frames.SIGNOFFS_PLAIN)))
        return plan
    if rng.random() < 0.55:
        plan.append(("greeting", rng.choice(frames.GREETINGS_PLAIN)))
    plan += [("body", rng.choice(frames.CLEAN_FRAMES)) for _ in range(rng.choice((1, 1, 2, 2, 3)))]
    if rng.random() < 0.45:
        plan.append(("signoff", rng.choice(frames.SIGNOFFS_PLAIN)))
    return plan


def _render(rng: random.Random, plan: list[tuple[str, str]]) -> _Builder:
    style = rng.choices(("plain", "casual", "slang", "typo"), weights=(6, 2, 1, 1.5))[0]
    builder = _Builder(rng, style)
    for i, (role, frame) in enumerate(plan):
        if i:
            if role == "signoff":
                builder.raw("\n" if "\n" in frame or rng.random() < 0.6 else " ")
            else:
                builder.raw(rng.choice(("\n", " ", " ", " ", "\n\n")))
        builder.frame(frame)
    if rng.random() < 0.08:
        builder.raw(rng.choice(EMOJIS))
    return builder


def _consistent(text: str, spans: list[dict[str, Any]], decoys: list[dict[str, Any]]) -> bool:
    """Labels agree with the scorer: identity misses every span, the oracle
    removes every span and keeps every decoy."""
    oracle = score.perfect_redaction(text, spans)
    for span in spans:
        if text[span["start"] : span["end"]] != span["value"]:
            return False
        if score.value_removed(span["type"], span["value"], text):
            return False
        if not score.value_removed(span["type"], span["value"], oracle):
            return False
    return all(score.decoy_intact(d["value"], oracle) for d in decoys)


def make_message(rng: random.Random, index: int, want_pii: bool) -> Message:
    """One message, re-drawn until its labels are consistent and within limits."""
    for _ in range(200):
        builder = _render(rng, _plan(rng, want_pii))
        spans = builder.spans
        if want_pii and not 1 <= len(spans) <= MAX_PII_PER_MESSAGE:
            continue
        text = builder.text()
        if _consistent(text, spans, builder.decoys):
            return Message(f"m{index:05d}", text, spans, builder.decoys, bool(spans))
    raise RuntimeError(f"could not draw a consistent message #{index}")


def build(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[Message]:
    """The corpus: ``n`` messages, identical for identical (n, seed)."""
    rng = random.Random(seed)
    return [make_message(rng, i, rng.random() >= CLEAN_SHARE) for i in range(n)]


def write_jsonl(path: str | Path, n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> int:
    """Write the corpus as one JSON object per line; returns the count."""
    messages = build(n, seed)
    with open(path, "w", encoding="utf-8") as fh:
        for message in messages:
            fh.write(json.dumps(message.to_dict(), ensure_ascii=False) + "\n")
    return len(messages)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSONL file to write")
    parser.add_argument("--n", type=int, default=DEFAULT_N)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    count = write_jsonl(args.out, args.n, args.seed)
    print(f"wrote {count} messages to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
