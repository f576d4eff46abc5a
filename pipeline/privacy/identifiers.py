"""Identifiers that are recognised by the words that introduce them, as RE2 rewrite rules.

Why keyword-led: a licence, passport, BSB, CVV, expiry or birth date has no check digit
and looks exactly like an order number, a price code or an ordinary date. What makes it
personal is the phrase in front of it ("DOB", "passport no.", "CVV", "BSB"). Each
:class:`Rule` therefore captures the introducing phrase in group 1, writes it back and
replaces only the value. The same regex text runs in DuckDB (RE2, ``regexp_replace``)
and in Python ``re`` (``re.ASCII``), so :func:`apply_python` is an exact twin.

Rules run before the phone and check-digit passes, so "ABN 51 824 753 556" is an ABN
and never a phone or card candidate. The check-digit path for unlabelled numbers lives in
:mod:`pipeline.privacy.patterns`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: ', Suburb STATE 1234' after a PO box (the same tail as a street address's, see patterns.py).
ADDRESS_TAIL = (
    r"(?:\.?,? ?\n|\.?,? )(?:[A-Za-z][A-Za-z'-]* ){1,3}(?i:VIC|NSW|QLD|SA|WA|TAS|NT|ACT|victoria|"
    r"new south wales|queensland|south australia|western australia|tasmania|northern territory|"
    r"australian capital territory)(?: \d{4})?"
)
#: Separators that may sit between an introducing phrase and its value.
_GAP = r"[\s:#=.,-]*(?:(?:is|was|are|of|the|on|no|num|nbr|number|=|:)\b[\s:#.=-]*){0,3}"
_MONTHS = (
    "jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
#: Dates: 03/04/1985, 3-4-85, 1985-04-03, 3 April 1985, 3rd of Apr 1985, April 3, 1985.
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?(?: of)?[ -](?:{_MONTHS})\.?,?[ -](?:\d{{4}}|\d{{2}})"
    rf"|(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}})"
)


def typos(word: str) -> str:
    """``word`` and its one-slip spellings (a letter dropped, doubled or swapped with the next):
    chat keywords are typed fast ("pasport", "liceence", "accuont"). An alternation for RE2."""
    variants = {word}
    for i in range(len(word)):
        variants.add(word[:i] + word[i + 1 :])
        variants.add(word[:i] + word[i] + word[i:])
        if i + 1 < len(word):
            variants.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    return "|".join(sorted((re.escape(v) for v in variants if len(v) >= 4), key=lambda v: (-len(v), v)))


@dataclass(frozen=True)
class Rule:
    """``regex`` with the kept prefix in group 1 and the value in group 2."""

    name: str
    placeholder: str
    regex: str
    description: str
    #: A regex that matches wherever ``regex`` can (a necessary condition, much cheaper to test):
    #: the layered query (:func:`pipeline.privacy.patterns.redact_query`) skips a rule's rows without it.
    trigger: str = ""


def _led(name: str, placeholder: str, keywords: str, value: str, description: str, gap: str = _GAP) -> Rule:
    regex = rf"(?i)(\b(?:{keywords})\b{gap})({value})\b"
    return Rule(name, placeholder, regex, description, trigger=rf"(?i:\b(?:{keywords})\b)")


#: Between a birth-date keyword and its date: the next date on the same line, up to 60
#: characters on, without another number in between ("the DOB and address on the account?
#: Got it: 14/07/1985"). A date is only ever personal through such a keyword.
_DOB_GAP = r"[^0-9\n]{0,60}?"


RULES: tuple[Rule, ...] = (
    _led(
        "dob",
        "[DOB]",
        r"d\.?o\.?b|date of birth|birth ?date|birthday|born(?: on| in)?|b\.?d\.?",
        _DATE,
        "The first date after DOB / d.o.b / date of birth / birthday / born (on) on the same line, "
        "up to 60 characters on with no digit in between. Other dates are kept.",
        gap=_DOB_GAP,
    ),
    _led(
        "card_expiry",
        "[CARD_EXPIRY]",
        r"exp(?:iry|iring|ires|iration|\.)?(?: date)?|valid (?:thru|through|until|to)|good thru|expiry date",
        r"(?:0?[1-9]|1[0-2]) ?[/-] ?(?:\d{4}|\d{2})",
        "MM/YY or MM/YYYY after exp / expiry / expires / valid thru.",
    ),
    _led(
        "cvv",
        "[CVV]",
        r"cvv2?|cvc2?|cid|csc|security code|card code|verification code|"
        r"(?:3|three|4|four)[ -]digits?(?: code)?(?: on the back)?",
        r"\d{3,4}",
        "3-4 digits after CVV / CVC / security code / 3 digits (on the back).",
    ),
    _led(
        "tfn",
        "[TFN]",
        r"tfn|tax file(?: number| no)?",
        r"\d{3}[ -]?\d{3}[ -]?\d{2,3}",
        "8 or 9 digits after TFN / tax file number (no check digit needed with the keyword).",
    ),
    _led(
        "medicare",
        "[MEDICARE]",
        r"medicare(?: card)?",
        r"\d{4}[ -]?\d{5}[ -]?\d(?:(?: ?[/-] ?| |)\d)?",
        "10 digits (+ optional IRN) after Medicare.",
    ),
    _led(
        "abn",
        "[ABN]",
        r"abn|australian business number",
        r"\d{2}[ -]?\d{3}[ -]?\d{3}[ -]?\d{3}",
        "11 digits after ABN.",
    ),
    _led("acn", "[ACN]", r"acn|australian company number", r"\d{3}[ -]?\d{3}[ -]?\d{3}", "9 digits after ACN."),
    _led("bank_account", "[BANK_ACCOUNT]", r"bsb", r"\d{3}[ -]?\d{3}", "BSB 123-456."),
    _led(
        "bank_account",
        "[BANK_ACCOUNT]",
        rf"(?:bank )?(?:{typos('account')})|acct|accnt|acc|a/c|acc no",
        r"\d(?:[ -]?\d){5,9}",
        "6-10 digit account number after account / acct / a/c or after a BSB.",
    ),
    _led(
        "licence",
        "[LICENCE]",
        rf"(?:driver'?s?|driving) (?:{typos('licence')}|{typos('license')})(?: card)?|{typos('licence')}|"
        rf"{typos('license')}|dl|lic",
        r"\d{3}[ -]\d{3}[ -]\d{3}|[A-Za-z]{0,2}\d[A-Za-z0-9]{4,11}",
        "Licence numbers (mostly digits, some with 1-2 letters, or grouped 123 456 789) after (driver's) "
        "licence / DL, the keyword with one typing slip too (liceence).",
    ),
    _led(
        "passport",
        "[PASSPORT]",
        typos("passport"),
        r"[A-Za-z]{1,2} ?\d{6,8}|[A-Za-z]\d{1,3}[A-Za-z]\d{4,6}|\d{8,9}",
        "Passport numbers after passport: 1-2 letters + 6-8 digits (PA1234567, LA123456), a letter "
        "inside the digits (C12X34567), or 8-9 digits.",
    ),
)
RULES = (
    *RULES,
    # An account number right after a redacted BSB ("BSB [BANK_ACCOUNT], 12345678").
    Rule(
        "bank_account",
        "[BANK_ACCOUNT]",
        r"(\[BANK_ACCOUNT\](?:[ ,;/]+(?:and |& )?(?i:(?:acc(?:oun)?t|acct|accnt|acc|a/c)(?: no\.?| number)?)?[ :#]*))"
        r"(\d(?:[ -]?\d){5,9})\b",
        "Account digits after a redacted BSB (with or without 'account').",
        trigger=r"\[BANK_ACCOUNT\]",
    ),
    Rule(
        "bank_account",
        "[BANK_ACCOUNT]",
        r"(^|[^0-9A-Za-z#$./-])(\d{3}-\d{3}[ ,/]+\d{6,10})\b",
        "Unlabelled BSB-account pairs 062-000 12345678.",
        trigger=r"\d{3}-\d{3}[ ,/]",
    ),
    _led(
        "bank_account",
        "[BANK_ACCOUNT]",
        r"bank(?:ing)? details|bank account(?: details)?|account details|pay(?:ment)? to|refund to|deposit(?: it)? (?:in)?to",
        r"\d{3}[ -]?\d{3}(?:[ ,/]+\d(?:[ -]?\d){5,9})?",
        "A BSB (and the account after it) after bank details / account details / refund to ...: "
        "'bank details are 062000 12345678'.",
    ),
    Rule(
        "address",
        "[ADDRESS]",
        rf"(\b)((?i:p\.? ?o\.? box|locked bag|gpo box) \d{{1,6}}(?:{ADDRESS_TAIL})?)\b",
        "PO Box 123, with its ', Suburb STATE 1234' tail.",
        trigger=r"(?i:p\.? ?o\.? box|locked bag|gpo box)",
    ),
)
RULES = (
    *RULES,
    _led(
        "phone",
        "[PHONE]",
        r"call(?: me)?|ring(?: me)?|phone|ph|mobile|mob|tel|telephone|landline|home number|work number|"
        r"text(?: me)?|reach me|contact(?: me| number| no)?",
        r"[2-9]\d{3}[ -]?\d{4}",
        "8-digit local numbers without area code after call / ring / phone / landline ...",
    ),
)
#: Account numbers run after the card pass, so "account 4462 2944 1575 6958" stays a card.
LATE_RULES: tuple[Rule, ...] = tuple(r for r in RULES if r.name in ("bank_account", "address") and "bsb" not in r.regex)
RULES = tuple(r for r in RULES if r not in LATE_RULES)
#: Cheap guard: only rows mentioning one of the introducing words run the rules.
GUARD_REGEX = (
    r"(?i)\b(?:d\.?o\.?b|birth|born|b\.?d|exp|valid|good thru|cvv|cvc|cid|csc|security code|card code|"
    r"verification code|(?:3|three|4|four)[ -]digit|tfn|tax file|medicare|abn|acn|australian business|"
    r"australian company|bsb|li[cs]|dl|driver|driving|drive|pas|call|ring|ph|mob|tel|landline|contact|"
    r"home number|work number|text|reach me|contact me)"
)
#: Guard of :data:`LATE_RULES` (account numbers).
LATE_GUARD_REGEX = r"(?i)\b(?:acc|acct|account|bank|a/c|bsb|p\.? ?o\.? box|locked bag|gpo)|\d{3}-\d{3}[ ,/]"

#: A CVV or expiry right after a redacted card ("[CARD] 09/27 123", "[CARD], exp 09/27, 123").
CARD_TAIL_REGEX = (
    r"(\[CARD\][\s,;]*(?:(?i:exp(?:iry|ires)?)[\s:]*)?)((?:0[1-9]|1[0-2])/(?:\d{4}|\d{2}))\b"
    r"(?:([\s,;]+(?:(?i:cvv|cvc|ccv|code)[\s:]*)?)(\d{3,4})\b)?"
)


def trigger_regex(rules: tuple[Rule, ...]) -> str:
    """One regex that matches wherever any of ``rules`` can (the union of their triggers)."""
    return "|".join(rule.trigger for rule in rules)


def apply_sql(expr: str, literal: Callable[[str], str], rules: tuple[Rule, ...] = RULES) -> str:
    """Chain every rule over ``expr`` (``literal`` quotes a string for SQL); the caller guards."""
    for rule in rules:
        expr = f"regexp_replace({expr}, {literal(rule.regex)}, {literal(chr(92) + '1' + rule.placeholder)}, 'g')"
    return expr


_COMPILED = {rules: tuple((re.compile(r.regex, re.ASCII), r) for r in rules) for rules in (RULES, LATE_RULES)}
_GUARD = re.compile(GUARD_REGEX, re.ASCII)
_LATE_GUARD = re.compile(LATE_GUARD_REGEX, re.ASCII)


def late_guard(text: str) -> bool:
    """True when ``text`` may hold an account number (the SQL guard of :data:`LATE_RULES`)."""
    return _LATE_GUARD.search(text) is not None


def guard(text: str) -> bool:
    """True when ``text`` mentions an introducing word (the SQL guard, on the raw text)."""
    return _GUARD.search(text) is not None


def apply_python(text: str, found: list[tuple[str, str]] | None = None, rules: tuple[Rule, ...] = RULES) -> str:
    """Python twin of the SQL chain of :data:`RULES` (the caller applies :func:`guard`);
    appends ``(type, value)`` to ``found`` for every replaced value."""
    for regex, rule in _COMPILED[rules]:

        def sub(m: re.Match[str], rule: Rule = rule) -> str:
            if found is not None:
                found.append((rule.name, m.group(2)))
            return m.group(1) + rule.placeholder

        text = regex.sub(sub, text)
    return text
