"""Check-digit algorithms for the identifiers the corpus generates.

Written from the published algorithms (Luhn; ATO TFN; Medicare; ABR ABN and
ASIC ACN) so that every generated card, TFN, Medicare, ABN and ACN is valid,
and so that every *decoy* number of the same length can be made invalid: a
redactor that validates check digits must then be able to keep the decoys.
"""

from __future__ import annotations

import random

TFN9_WEIGHTS = (1, 4, 3, 7, 5, 8, 6, 9, 10)
TFN8_WEIGHTS = (10, 7, 8, 4, 6, 3, 5, 1)
MEDICARE_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9)
ABN_WEIGHTS = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
ACN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 1)


def digits_of(text: str) -> str:
    """The digits of ``text`` in order, everything else dropped."""
    return "".join(ch for ch in text if ch.isdigit())


def luhn_valid(number: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check."""
    ds = [int(c) for c in digits_of(number)]
    if len(ds) < 2:
        return False
    total = 0
    for i, d in enumerate(reversed(ds)):
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_complete(prefix_and_body: str) -> str:
    """Append the Luhn check digit to a digit string."""
    for check in "0123456789":
        if luhn_valid(prefix_and_body + check):
            return prefix_and_body + check
    raise AssertionError("unreachable: one check digit always fits")


def tfn_valid(number: str) -> bool:
    """8- or 9-digit Tax File Number: weighted sum divisible by 11."""
    ds = [int(c) for c in digits_of(number)]
    weights = {9: TFN9_WEIGHTS, 8: TFN8_WEIGHTS}.get(len(ds))
    if weights is None:
        return False
    return sum(d * w for d, w in zip(ds, weights)) % 11 == 0


def medicare_valid(number: str) -> bool:
    """10 or 11 digits: first 2-6, 9th = weighted sum of first 8 mod 10."""
    ds = [int(c) for c in digits_of(number)]
    if len(ds) not in (10, 11) or not 2 <= ds[0] <= 6:
        return False
    return sum(d * w for d, w in zip(ds[:8], MEDICARE_WEIGHTS)) % 10 == ds[8]


def abn_valid(number: str) -> bool:
    """11-digit ABN: subtract 1 from the first digit, weighted sum mod 89."""
    ds = [int(c) for c in digits_of(number)]
    if len(ds) != 11 or ds[0] == 0:
        return False
    ds[0] -= 1
    return sum(d * w for d, w in zip(ds, ABN_WEIGHTS)) % 89 == 0


def acn_valid(number: str) -> bool:
    """9-digit ACN: check digit is the complement of the weighted sum mod 10."""
    ds = [int(c) for c in digits_of(number)]
    if len(ds) != 9:
        return False
    remainder = sum(d * w for d, w in zip(ds[:8], ACN_WEIGHTS)) % 10
    return (10 - remainder) % 10 == ds[8]


def passes_any_check(number: str) -> bool:
    """True when a digit string is a valid card, TFN, Medicare, ABN or ACN."""
    ds = digits_of(number)
    return (
        (13 <= len(ds) <= 19 and luhn_valid(ds))
        or tfn_valid(ds)
        or medicare_valid(ds)
        or abn_valid(ds)
        or acn_valid(ds)
    )


def make_tfn(rng: random.Random, length: int = 9) -> str:
    """A random TFN of 8 or 9 digits with a valid check."""
    while True:
        ds = [rng.randint(0, 9) for _ in range(length)]
        ds[0] = rng.randint(1, 9)
        weights = TFN9_WEIGHTS if length == 9 else TFN8_WEIGHTS
        partial = sum(d * w for d, w in zip(ds[:-1], weights[:-1])) % 11
        # last weight is 10 (= -1 mod 11) or 1: solve for the last digit
        last = partial % 11 if weights[-1] == 10 else (-partial) % 11
        if last <= 9:
            ds[-1] = last
            value = "".join(map(str, ds))
            assert tfn_valid(value)
            return value


def make_medicare(rng: random.Random, with_irn: bool = False) -> str:
    """10 digits (8 + check + issue no.), or 11 with the individual ref no."""
    ds = [rng.randint(2, 6)] + [rng.randint(0, 9) for _ in range(7)]
    check = sum(d * w for d, w in zip(ds, MEDICARE_WEIGHTS)) % 10
    ds += [check, rng.randint(1, 9)]
    if with_irn:
        ds.append(rng.randint(1, 9))
    return "".join(map(str, ds))


def make_abn(rng: random.Random) -> str:
    """An 11-digit ABN: random last 9 digits, first two solved for mod 89."""
    tail = [rng.randint(0, 9) for _ in range(9)]
    partial = sum(d * w for d, w in zip(tail, ABN_WEIGHTS[2:]))
    options = []
    for first in range(1, 10):
        for second in range(10):
            if (10 * (first - 1) + second + partial) % 89 == 0:
                options.append([first, second])
    value = "".join(map(str, rng.choice(options) + tail))
    assert abn_valid(value)
    return value


def make_acn(rng: random.Random) -> str:
    """A 9-digit ACN with its complement check digit."""
    ds = [rng.randint(0, 9) for _ in range(8)]
    remainder = sum(d * w for d, w in zip(ds, ACN_WEIGHTS)) % 10
    return "".join(map(str, ds)) + str((10 - remainder) % 10)


def make_invalid_number(rng: random.Random, length: int, first: str = "") -> str:
    """A digit string of ``length`` that passes none of the checks above."""
    while True:
        body = first + "".join(str(rng.randint(0, 9)) for _ in range(length - len(first)))
        if body[0] != "0" or first.startswith("0"):
            if not passes_any_check(body):
                return body
