"""Person names, found by context cues and gazetteers, vectorised in DuckDB.

Why this shape (measured on 200k messages, 2 cores, DuckDB 1.0):

* A per-message Python/NER call runs at ~100 messages/s; RE2 runs at >1M/s as long
  as its DFA stays small. A case-sensitive alternation of ~5k given names scans text
  at ~1.7M messages/s; 20k names blow the DFA cache and fall to ~170k/s. So the
  *full-text* scan uses a strict list (:func:`strict_given_names`, capped at
  :data:`STRICT_LIMIT`), and the big gazetteer (~60k given names and surnames) is only
  ever matched against short *candidate* tokens, where its cost does not matter.
* One ``regexp_replace`` marks candidates between U+001F separators: a token after a
  cue ("Hi", "Thanks,", "my name is", "this is", "I'm", "speaking with", "Cheers\\n") or
  a strict given name anywhere, each with up to two following capitalised tokens
  (surnames). ``list_transform`` then classifies each candidate with the macro
  ``pii_name_fix`` (:data:`MACROS`): a capitalised token that is not a stop word
  (brands, cities, "Team", "there", ...) is a name; a lower-case token is a name only
  when the gazetteer has it ("hey its jack here"). Following tokens are kept as soon
  as one is not a name ("Hi Mai Telstra" keeps "Telstra").
* Common words that are also names (Grace, Will, Mark, Rose, Bill, May) are left out
  of the strict list (they are lower-case English words in Webster's list from the
  ``english-words`` package), so they are redacted only after a cue.

Gazetteers come from installed packages at import time (``faker`` person providers of
all Latin-script locales, ``gender-guesser``'s name dictionary), folded to ASCII, plus a
short hand list of Māori and Aboriginal Australian names those packages lack.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
import re
import unicodedata

import gender_guesser
from english_words import get_english_words_set
from faker.providers import person as faker_person

#: Full-text scan list size (see module docstring for why it is capped).
STRICT_LIMIT = 6000
SEP = "\x1f"

#: Names of origins the packages under-represent (given and family names).
_EXTRA = (
    "aroha",
    "anahera",
    "awhina",
    "hemi",
    "hine",
    "kahu",
    "kiri",
    "manaia",
    "mere",
    "nikau",
    "ngaio",
    "rawiri",
    "tama",
    "tane",
    "tui",
    "wiremu",
    "whetu",
    "aperahama",
    "parata",
    "ngata",
    "tipene",
    "te",
    "whaanga",
    "horomona",
    "jarrah",
    "kirra",
    "alinta",
    "jedda",
    "bindi",
    "tjandamurra",
    "yindi",
    "mundine",
    "yunupingu",
    "namatjira",
    "goodes",
    "mabo",
    "pearson",
    "tjapaltjarri",
    "wanganeen",
    "djerrkura",
    "marika",
    "gurrumul",
    "warrior",
    "nguyen",
    "tran",
    "pham",
    "huynh",
    "hoang",
    "vo",
    "dang",
    "bui",
    "do",
    "ngo",
    "duong",
    "ly",
    "truong",
    "papadopoulos",
    "nikolaidis",
    "georgiou",
    "konstantinidis",
    "pappas",
    "dimitriou",
    "karagiannis",
    "haddad",
    "khoury",
    "nasser",
    "hussein",
    "abdullah",
    "rahman",
    "saleh",
    "farah",
    "mansour",
    "aziz",
    "patel",
    "sharma",
    "singh",
    "gupta",
    "iyer",
    "nair",
    "reddy",
    "kumar",
    "krishnan",
    "menon",
    "desai",
    "o'brien",
    "o'neil",
    "o'neill",
    "o'connor",
    "d'souza",
    "d'cruz",
    "mcdonald",
    "macdonald",
    "fitzgerald",
)

#: Words that follow a cue but are not names; also brands, places and street words.
STOP_WORDS = frozenset(
    """
i im i'm me my we you your yours our us he she they them it its it's this that these those there here
a an the and or but so to for of in on at by with from as is am are was were be been being do does did
not no yes yeah yep nope ok okay all everyone everybody guys folks team mate mates again heaps lots very
much just still also really actually only even please thanks thank cheers regards hello hi hey dear sorry
good great bad happy glad morning afternoon evening night day today tomorrow yesterday tonight week
having trying looking calling writing wondering hoping waiting getting going coming chasing following
back home about after before because if when where why what who how which while again soon now then
support service customer customers staff sir madam there's hope love best kind warm many yours sincerely
called calling contacting reaching regarding re fw fwd hopefully unfortunately urgent asap just quick
monday tuesday wednesday thursday friday saturday sunday january february march april june july august
september october november december mon tue wed thu fri sat sun jan feb mar apr jun jul aug sep sept oct
nov dec street st road rd avenue ave drive dr lane place court crescent parade highway terrace way unit
level lot po box suite shop nsw vic qld wa sa tas nt act australia australian aussie nz
telstra optus vodafone tpg iinet aussie belong dodo amaysim boost bunnings woolworths woolies coles aldi
kmart target myer david jones jb hi-fi harvey norman officeworks qantas virgin jetstar rex auspost
startrack medibank bupa ahm nib hcf commbank commonwealth nab anz westpac bendigo suncorp amazon ebay
uber netflix stan foxtel kayo binge apple iphone samsung galaxy google pixel microsoft windows dell hp
lenovo sony lg xbox playstation spotify paypal afterpay zip menulog doordash deliveroo ikea big w bcf
rebel supercheap chemist warehouse priceline dan murphy's bws liquorland 7-eleven ampol bp shell caltex
agl origin energyaustralia red alinta synergy sydney melbourne brisbane perth adelaide hobart darwin
canberra geelong newcastle wollongong cairns townsville ballarat bendigo toowoomba launceston mackay
rockhampton bunbury wagga alice springs gold coast sunshine parramatta penrith dubbo orange albury
mildura shepparton tamworth bathurst wodonga gladstone hervey bay mandurah kalgoorlie geraldton broome
katherine devonport burnie ipswich logan frankston dandenong bondi manly chatswood fremantle
glenelg richmond fitzroy carlton kilda toorak surry hills cbd north south east west new
""".split()
)

#: Cue words/phrases before a name (case-insensitive).
CUES = (
    r"hi+|hey+|hiya|hello|helo|heya|dear|g'?day|good (?:morning|afternoon|evening)|morning|"
    r"thanks|thank you|thanx|thx|ty|cheers|ta|regards|kind regards|best regards|warm regards|"
    r"many thanks|best wishes|sincerely|yours truly|yours sincerely|love|best|"
    r"my name is|my name's|my names|name is|name's|names|name:|the name is|"
    r"this is|it's|its|it is|i'm|i’m|im|i am|call me|"
    r"speaking with|speaking to|spoke (?:to|with)|spoken (?:to|with)|talking (?:to|with)|talked (?:to|with)|"
    r"chatted with|chatting with|dealing with|dealt with|assisted by|helped by|served by|"
    r"ask for|asked for|attn|attention|c/o|signed|account holder|card ?holder|"
    r"mr|mrs|ms|miss|dr|mx|prof|--|—|-"
)
#: A name token: letters with inner apostrophes or hyphens (O'Brien, Smith-Jones, D’Souza).
TOKEN = r"[A-Za-z][A-Za-z'’-]*[A-Za-z]"
CAP_TOKEN = r"[A-Z][A-Za-z'’-]*[A-Za-z]"
_LEAD = r"(^|[^A-Za-z'’])"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


_NAME_SHAPE = re.compile(r"^[a-z]+(?:['-][a-z]+)*$")


#: Locales whose given names rank first in the strict list (the chats are Australian).
_HOME_LOCALES = ("en_AU", "en_GB", "en_IE", "ga_IE", "en_NZ", "en_US", "en_IN", "vi_VN", "zh_CN", "it_IT", "el_GR")


@functools.cache
def _faker_names() -> tuple[dict[str, int], set[str]]:
    """Given names (name -> weight: home locales count 5, any other locale 1) and family names."""
    given: dict[str, int] = {}
    family: set[str] = set()
    for module in pkgutil.iter_modules(faker_person.__path__):
        provider = importlib.import_module(f"{faker_person.__name__}.{module.name}").Provider
        weight = 5 if module.name in _HOME_LOCALES else 1
        for attr in (
            "first_names",
            "first_names_male",
            "first_names_female",
            "first_romanized_names",
            "last_names",
            "last_romanized_names",
        ):
            values = getattr(provider, attr, None)
            if not values or isinstance(values, property):
                continue
            if attr.startswith("last"):
                family.update(_ascii(v) for v in values)
                continue
            for name in {_ascii(v) for v in values}:
                given[name] = given.get(name, 0) + weight
    return given, family


def _gender_guesser_names() -> set[str]:
    path = os.path.join(os.path.dirname(gender_guesser.__file__), "data", "nam_dict.txt")
    names: set[str] = set()
    with open(path, encoding="iso-8859-1") as fh:
        for line in fh:
            if not line.startswith("#") and len(line) > 30 and line[0] in "MF?=1":
                names.add(_ascii(line[3:29].strip().replace("+", "-")))
    return names


@functools.cache
def gazetteers() -> tuple[frozenset[str], frozenset[str]]:
    """``(given names, family names)``, lower-case ASCII, name-shaped, stop words removed."""
    faker_given, family = _faker_names()
    given = set(faker_given) | _gender_guesser_names() | set(_EXTRA)
    family |= set(_EXTRA)

    def clean(names: set[str]) -> frozenset[str]:
        return frozenset(n for n in names if len(n) >= 2 and _NAME_SHAPE.match(n) and n not in STOP_WORDS)

    return clean(given), clean(family)


@functools.cache
def common_words() -> frozenset[str]:
    """Lower-case English words (Webster's 2nd, all-lower entries only)."""
    return frozenset(w for w in get_english_words_set(["web2"], lower=False) if w.islower())


@functools.cache
def strict_given_names() -> tuple[str, ...]:
    """Given names safe to redact anywhere: in Faker's English/Irish/Indian/Vietnamese/... lists,
    at least 3 letters, not an English word, not a stop word, capped at :data:`STRICT_LIMIT`."""
    faker_given, _ = _faker_names()
    given, _ = gazetteers()
    words = common_words()
    weight = dict(faker_given, **{n: 99 for n in _EXTRA})
    pool = sorted(
        (n for n in weight if n in given and len(n) >= 3 and n not in words and "'" not in n),
        key=lambda n: (-weight[n], n),
    )
    return tuple(pool[:STRICT_LIMIT])


def _alternation(names) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))


@functools.cache
def candidate_regex() -> str:
    """Marks cue-led candidates (groups 1-3) and strict given names (groups 4-6)."""
    strict = _alternation(n.capitalize() for n in strict_given_names())
    follow = rf"(?: {CAP_TOKEN}){{0,2}}"
    return (
        rf"{_LEAD}((?:(?i:{CUES})[ \t,:;!.\n]{{1,4}})+)({TOKEN}{follow})"
        rf"|{_LEAD}()((?:{strict})\b{follow})"
    )


@functools.cache
def lower_regex() -> str:
    """Lower-case strict given names after a strong cue ("hey its jack here", "my name is mai")."""
    strict = _alternation(strict_given_names())
    return rf"{_LEAD}((?:(?i:{CUES})[ \t,:;!.\n]{{1,4}})+)((?:{strict}))\b"


@functools.cache
def gazetteer_regex() -> str:
    """Full-match regex of every known given or family name (lower case)."""
    given, family = gazetteers()
    return "(?:" + _alternation(given | family) + ")"


@functools.cache
def stop_regex() -> str:
    return "(?:" + _alternation(STOP_WORDS) + ")"


def macros(literal) -> tuple[str, ...]:
    """SQL macros of the classifier (``literal`` quotes a string for SQL)."""
    stop = literal(stop_regex())
    # Only the small stop-word regex runs inside the lambda: DuckDB 1.0 re-initialises a
    # lambda's regex per chunk, so a large gazetteer there costs ~30x in throughput
    # (measured: 3.6k vs >100k messages/s). Lower-case names use LOWER_REGEX instead.
    return (
        f"""create or replace temp macro pii_name_tok(t) as
            regexp_full_match(t, '[A-Z].*') and not regexp_full_match(lower(t), {stop})""",
        """create or replace temp macro pii_name_fix(c) as
            case when not pii_name_tok(split_part(c, ' ', 1)) then c
                 when split_part(c, ' ', 2) = '' then '[NAME]'
                 when not pii_name_tok(split_part(c, ' ', 2)) then '[NAME]' || substr(c, length(split_part(c, ' ', 1)) + 1)
                 when split_part(c, ' ', 3) = '' or not pii_name_tok(split_part(c, ' ', 3))
                 then '[NAME]' || substr(c, length(split_part(c, ' ', 1)) + length(split_part(c, ' ', 2)) + 2)
                 else '[NAME]' end""",
    )


def redact_sql(expr: str, literal) -> str:
    """Mark-and-classify pass over ``expr`` (see module docstring)."""
    repl = literal("\\1\\2\\4\\5" + SEP + "\\3\\6" + SEP)
    marked = f"regexp_replace(replace({expr}, {literal(SEP)}, ''), {literal(candidate_regex())}, {repl}, 'g')"
    pieces = f"string_split({marked}, {literal(SEP)})"
    lower = f"regexp_replace({expr}, {literal(lower_regex())}, {literal(chr(92) + '1' + chr(92) + '2[NAME]')}, 'g')"
    pieces = pieces.replace(expr, lower, 1)
    return (
        f"array_to_string(list_transform({pieces}, (x, i) -> case when i % 2 = 0 then pii_name_fix(x) else x end), '')"
    )


# --------------------------------------------------------------------------- python twin


@functools.cache
def _compiled() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    return (
        re.compile(candidate_regex(), re.ASCII),
        re.compile(lower_regex(), re.ASCII),
        re.compile(stop_regex(), re.ASCII),
    )


def _is_name(token: str) -> bool:
    stop = _compiled()[2]
    return "A" <= token[:1] <= "Z" and not stop.fullmatch(token.lower())


def fix_candidate(candidate: str) -> str:
    """Python twin of ``pii_name_fix``."""
    parts = candidate.split(" ")
    if not _is_name(parts[0]):
        return candidate
    kept = 1
    while kept < len(parts) and kept < 3 and _is_name(parts[kept]):
        kept += 1
    rest = " ".join(parts[kept:])
    return "[NAME]" + (" " + rest if rest else "")


def redact_python(text: str) -> str:
    """Python twin of :func:`redact_sql`."""
    regex = _compiled()[0]

    def sub(m: re.Match[str]) -> str:
        if m.group(3) is not None:
            return m.group(1) + m.group(2) + fix_candidate(m.group(3))
        return m.group(4) + fix_candidate(m.group(6))

    text = _compiled()[1].sub(lambda m: m.group(1) + m.group(2) + "[NAME]", text)
    return regex.sub(sub, text.replace(SEP, ""))
