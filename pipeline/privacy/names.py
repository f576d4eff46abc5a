"""Person names, found by context cues and gazetteers, vectorised in DuckDB.

Why this shape (measured on 200k messages, 2 cores, DuckDB 1.0):

* A per-message Python/NER call runs at ~100 messages/s; RE2 runs at >1M/s as long
  as its DFA stays small. A case-sensitive alternation of ~5k given names scans text
  at ~1.7M messages/s; 20k names blow the DFA cache and fall to ~170k/s. So the
  *full-text* scan uses a strict list (:func:`strict_given_names`, capped at
  :data:`STRICT_LIMIT`), and the gazetteer (~60k given names and surnames) is only
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

from pipeline.privacy import udf

#: List sizes (see module docstring for why they are capped): names after a cue (anchored),
#: and names anywhere (unanchored; RE2's DFA cache overflows past ~3k names: 300k -> 80k msg/s).
STRICT_LIMIT = 6000
ANYWHERE_LIMIT = 3000
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

#: Function words and chat words that follow a cue but are never names, even where a gazetteer
#: lists them ("Do", "Will", "Kind"): the run and end passes (:func:`run_lookup`) never take them.
FUNCTION_WORDS = frozenset(
    """
i im i'm me my we you your yours our us he she they them it its it's this that these those there here
a an the and or but so of in on at from as is am are was were be been being does did
not no yes yeah yep nope ok okay all everyone everybody guys folks team mate mates again heaps lots very
much just still also really actually only even please thanks thank cheers regards hello hi hey dear sorry
good great bad happy glad kind warm best many morning afternoon evening night day today tomorrow yesterday tonight week
sir madam
""".split()
)
#: Greetings spelt as chats spell them, before a found name ("G'day [NAME]", "Hiya [NAME]").
GREETING_WORDS = frozenset("hiya helo heya hii hiii heyy heyyy g'day gday howdy".split())
#: Titles before a name ("Mr [NAME]"): never part of it.
TITLES = frozenset("mr mrs ms miss mx dr prof sir madam mister".split())
#: Words that follow a cue but are not names: the function words, and calendar, street, brand and
#: place words. A gazetteer name among the latter ("Alinta", "Jun", "Sun") is taken only where a
#: name's context is unambiguous (:func:`run_lookup`, the end pass).
STOP_WORDS = FUNCTION_WORDS | frozenset(
    """
do
having trying looking calling writing wondering hoping waiting getting going coming chasing following
back home about after before because if when where why what who how which while again soon now then
support service customer customers staff sir madam there's yours sincerely
called calling contacting reaching regarding re fw fwd hopefully unfortunately urgent asap just quick
monday tuesday wednesday thursday friday saturday sunday january february march april june july august
september october november december mon tue wed thu fri sat sun jan feb mar apr jun jul aug sep sept oct
nov dec street st road rd avenue ave drive dr lane place court crescent parade highway terrace way unit
level lot po box suite shop nsw vic qld wa sa tas nt act australia australian aussie nz
telstra optus vodafone tpg iinet aussie belong dodo amaysim boost bunnings woolworths woolies coles aldi
kmart target myer jb hi-fi officeworks qantas virgin jetstar auspost
startrack medibank bupa ahm nib hcf commbank commonwealth nab anz westpac bendigo suncorp amazon ebay
uber netflix foxtel kayo binge stan catch ing kogan apple iphone samsung galaxy google pixel microsoft windows dell hp
lenovo sony lg xbox playstation spotify paypal afterpay zip menulog doordash deliveroo ikea bcf
supercheap chemist warehouse priceline bws liquorland 7-eleven ampol bp shell caltex
agl energyaustralia alinta synergy sydney melbourne brisbane perth adelaide hobart darwin
canberra geelong newcastle wollongong cairns townsville ballarat bendigo toowoomba launceston mackay
rockhampton bunbury wagga parramatta penrith dubbo orange albury
mildura shepparton tamworth bathurst wodonga gladstone mandurah kalgoorlie geraldton broome
devonport burnie ipswich frankston dandenong bondi manly chatswood fremantle
glenelg richmond fitzroy carlton kilda toorak cbd north south east west new
""".split()
)

#: Words that start a sentence right after a greeting without punctuation ("Hey Can I ...", "Hiya
#: Tracking 1234 shows ..."), never names: modal and auxiliary verbs (not "will", "may": names), and
#: the words that introduce an order, ticket or version number (patterns.DECOY_PREFIX/VERSION_PREFIX).
SENTENCE_STARTS = frozenset(
    """
can could would should shall might must has have had any
order invoice inv ticket tracking consignment booking reference ref case receipt transaction txn confirmation
store item sku product part serial model job claim request incident customer member membership policy
parcel shipment quote rma return error code err version build firmware release update updated upgraded running
""".split()
)
#: Greetings: the name follows on the same line ("Hi Mai,"); after "Hi,\n" the next line's
#: first word starts a sentence ("Hi,\nOrder 123 ...").
GREETINGS = r"hi+|hey+|hiya|hello|helo|heya|dear|g'?day|good (?:morning|afternoon|evening)|morning|afternoon|evening"
#: Other cue words/phrases before a name (case-insensitive); sign-offs may sit a line above it.
CUES = (
    r"thanks (?:heaps|so much|again|a lot|a heap|mate)|cheers (?:heaps|mate)|ta heaps|"
    r"thanks|thank you|thanx|thx|ty|cheers|ta|regards|kind regards|best regards|warm regards|"
    r"many thanks|best wishes|sincerely|yours truly|yours sincerely|love|best|"
    r"my name is|my name's|my names|name is|name's|names|name:|the name is|"
    r"this is|it's|its|it is|i'm|i’m|im|i am|call me|"
    r"speaking with|speaking to|spoke (?:to|with)|spoken (?:to|with)|talking (?:to|with)|talked (?:to|with)|"
    r"chatted with|chatting with|dealing with|dealt with|assisted by|helped by|served by|"
    r"ask for|asked for|attn|attention|c/o|account holder|card ?holder|"
    r"mr|mrs|ms|miss|dr|mx|prof|--|—|-|"
    r"my (?:wife|husband|partner|son|daughter|mum|mom|mother|dad|father|brother|sister|friend|colleague|manager)|"
    r"named|agent|technician|consultant|ask|tell|cc|"
    r"in the name of|in the name|under the name|name on the (?:card|account|booking|order) (?:is|should be)|"
    # Whose name a thing is under, and who signed for it: "verified with name", "under my husband's
    # name,", "in my partner's name?", "signed for by", "account name:".
    r"(?:verified )?with (?:the )?name|(?:under|in) (?:my|his|her|their|our) (?:[a-z]+(?:'s|’s|s) )?name(?: of)?\??|"
    r"signed(?: (?:for )?by)?|account name"
)
#: Words that continue a multi-word cue ("my name IS", "name ON THE booking"): never protected
#: as the stop word after a shorter cue, or the longer cue could no longer match.
CUE_CONTINUATIONS = frozenset(
    "is name on of you me am holder should be card account booking order morning afternoon evening "
    "heaps much again lot heap mate".split()
)
#: A name token: letters with inner apostrophes or hyphens (O'Brien, Smith-Jones, D’Souza).
TOKEN = r"[A-Za-z][A-Za-z'’-]*[A-Za-z]"
CAP_TOKEN = r"[A-Z][A-Za-z'’-]*[A-Za-z]"
_LEAD = r"(^|[^A-Za-z'’\[_])"
#: Words that make the capitalised word before them part of a place or brand ("Alice Springs",
#: "Gold Coast", "Bourke St", "Harvey Norman"): such a candidate is kept whole.
PLACE_WORDS = frozenset(
    """
springs coast hills heights park beach bay point creek valley island river lakes vale downs gardens ridge
st street rd road ave avenue dr drive lane ln pl place ct court cres crescent pde parade hwy highway tce
terrace way blvd boulevard square sq mall plaza centre center station airport hospital university uni
school college shopping store stores plains junction wagga norman jones murphy's hi-fi bank group
energy guys insurance electrical pharmacy telecom mobile health
""".split()
)


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


#: Chat shorthand, contractions without their apostrophe and Australian slang: words no dictionary
#: lists that are never names, so an unknown word (:func:`unknown_word`) is none of them.
CHAT_WORDS = frozenset(
    """
thx thnx thanx tnx pls plz ty tysm lol omg btw asap gonna wanna gotta tryna dunno lemme ya yo ur abit alot cuz coz
tho thru nvm idk imo tbh fyi aka etc arvo brekkie servo bottlo ute esky uni telly footy rego maccas bday hubby
wifi app apps modem online offline email emails emailed texted inbox login logout signup checkout
im ive id youre theyre were weve hes shes thats whats wheres theres dont doesnt didnt isnt wasnt werent arent
cant couldnt wouldnt shouldnt wont havent hasnt hadnt aint ok okay yea yep nah nope hmm umm ahh heaps reckon
""".split()
)
#: Endings stripped to find an inflected form's dictionary word (the dictionaries list stems).
_INFLECTIONS = (
    ("'s", ""),
    ("’s", ""),
    ("ies", "y"),
    ("es", ""),
    ("s", ""),
    ("ied", "y"),
    ("ed", ""),
    ("ed", "e"),
    ("d", ""),
    ("ing", ""),
    ("ing", "e"),
    ("ly", ""),
    ("er", ""),
    ("est", ""),
)


@functools.cache
def dictionary_words() -> frozenset[str]:
    """Lower-case English words: Webster's 2nd and GCIDE (``english-words``), chat words, stop words."""
    gcide = get_english_words_set(["gcide"], lower=True, alpha=False)
    return common_words() | frozenset(gcide) | CHAT_WORDS | STOP_WORDS | SENTENCE_STARTS | TITLES | GREETING_WORDS


def is_english(key: str) -> bool:
    """``key`` (lower case) is a dictionary word or an inflection of one ("delivered", "boxes")."""
    words = dictionary_words()
    if key in words:
        return True
    for ending, stem in _INFLECTIONS:
        if key.endswith(ending) and len(key) > len(ending) + 1:
            base = key[: -len(ending)]
            if base + stem in words or (base[-1:] == base[-2:-1] and base[:-1] in words):  # "stopped"
                return True
    return False


def _one_edit(word: str):
    """Every string one deletion, transposition, substitution or insertion away from ``word``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    letters = "abcdefghijklmnopqrstuvwxyz"
    yield from (a + b[1:] for a, b in splits if b)
    yield from (a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    yield from (a + c + b[1:] for a, b in splits if b for c in letters)
    yield from (a + c + b for a, b in splits for c in letters)


def looks_misspelt(key: str) -> bool:
    """``key`` is one typing slip from a dictionary word of 4+ letters ("ridiculuos", "heeaps").
    Chats are full of them, and after a cue alone such a word is more likely a slip than a name.
    (A few hundred set probes, paid only by the rare unknown word alone after a cue; a spelling
    library would add a dependency and a frequency list for this one test.)"""
    words = dictionary_words()
    return any(len(e) >= 4 and e in words for e in _one_edit(key))


#: Name particles inside a double-barrelled or prefixed surname ("el-masri", "al-hassan", "ben-ami").
_PARTICLES = frozenset("al el ben bin bint abu ibn de di da del della van von der le la mac mc".split())


def unknown_word(key: str) -> bool:
    """A word of name shape that no dictionary knows ("papageorgiou", "wihongi", "kaiyu"): next
    to a found name, or alone after a cue before a clause end, it is taken as a name (a surname
    or a given name the gazetteers lack). Hyphenated, every part is a name, an unknown word or a
    particle ("el-masri", "smith-jones"); never a function word (:data:`FUNCTION_WORDS`)."""
    if "-" in key:
        parts = key.split("-")
        lookup = run_lookup()
        return (
            all(p in _PARTICLES or p in lookup or unknown_word(p) for p in parts)
            and not all(p in _PARTICLES for p in parts)
            and _NAME_SHAPE.match(key) is not None
        )
    return len(key) >= 3 and _NAME_SHAPE.match(key) is not None and "'" not in key[2:] and not is_english(key)


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
def word_sets() -> dict[str, frozenset[str]]:
    """The lookups of the passes: strict given names, all names, stop and place words."""
    given, family = gazetteers()
    return {"strict": frozenset(strict_given_names()), "gaz": given | family, "stop": STOP_WORDS, "place": PLACE_WORDS}


#: Guard characters of the passes (removed at the end): PROTECT before a word stops later
#: passes from taking it as a name, MARK before a capitalised word anchors the strict lookup.
PROTECT = "\x1e"
MARK = SEP
_GAP = r"[ \t,:;!.\n]{1,4}"
_LINE_GAP = r"[ \t,:;!.]{1,4}"
#: Capitalised token with a lower-case second letter: not an acronym (DOB, ABN, ID).
NAME_TOKEN = r"[A-Z][a-z'’][A-Za-z'’-]*"
#: Words before a capitalised word that make it a place: "Mount Isa", "Port Hedland", "Lake Macquarie".
TOPONYM_PREFIXES = r"Mount|Mt|Port|Cape|Lake|Fort|Glen|Point"


@functools.cache
def passes() -> tuple[tuple[str, str], ...]:
    """``(regex, replacement)`` pairs, applied in order by SQL and Python alike.

    Only plain ``regexp_replace`` passes, no lambdas: DuckDB 1.0 re-initialises a regex
    (or a constant list) inside a lambda for every row or chunk; measured 30-3,600
    messages/s with gazetteers there, against >1M/s for an anchored pass. Big
    alternations are anchored (after a cue, or after the MARK character), so RE2's DFA
    only walks the name trie where a name can start.
    """
    sets = word_sets()
    cues = rf"{_LEAD}((?:(?i:{GREETINGS}){_LINE_GAP}|(?i:{CUES}){_GAP})+)"
    one_cue = rf"{_LEAD}((?i:{GREETINGS}){_LINE_GAP}|(?i:{CUES}){_GAP})"
    stop = _alternation(sets["stop"])
    stop_after_cue = _alternation((sets["stop"] | SENTENCE_STARTS) - CUE_CONTINUATIONS)
    place = _alternation(sets["place"])
    strict = _alternation(n.capitalize() for n in strict_given_names()[:ANYWHERE_LIMIT])
    return (
        # "Alice Springs", "Bourke St", "Harvey Norman": the place or brand word is protected too, or
        # a given name among them ("Norman") would be taken by the name-anywhere pass.
        (rf"({CAP_TOKEN}) ((?i:{place})\b)", PROTECT + "\\1 " + PROTECT + "\\2"),
        # One cue each (not a chain), so every stop word right after a cue is protected:
        # "cheers. Thanks heaps" protects "Thanks" and a chain cannot skip it.
        (rf"{one_cue}((?i:{stop_after_cue})(?:'s|’s|s)?\b)", "\\1\\2" + PROTECT + "\\3"),  # "Hi Team"
        # After "Hello, " or "cheers.\n" a capitalised word that runs on into a sentence starts
        # it ("Hello, Can I ...", "cheers.\n\nAccording to ..."); a name is followed by , ! or a line end.
        (
            rf"{_LEAD}((?i:{GREETINGS}|{CUES})[,!.:;]+[ \t\n]+)({CAP_TOKEN} (?:[a-z]|I\b))",
            "\\1\\2" + PROTECT + "\\3",
        ),
        (rf"{cues}({CAP_TOKEN})", "\\1\\2[NAME]"),  # "Hi Mai", "Thanks, Grace"
        (rf"{cues}((?:{_alternation(cue_lower_names())}))\b", "\\1\\2[NAME]"),  # "hey its jack here"
        (rf"(\b(?:{TOPONYM_PREFIXES})\.? )({CAP_TOKEN})", "\\1" + PROTECT + "\\2"),  # "Mount Isa"
        (rf"(^|[^A-Za-z'’\[_\x1e-])(?:{strict})(?:[-'’][A-Za-z]+)*\b", "\\1[NAME]"),  # given names anywhere
        # Whose account it is: "BSB 062-000 12345678 under Moana Wang".
        (
            rf"(\[BANK_ACCOUNT\],? (?:under|(?i:in the name of|held by|for)) )({CAP_TOKEN}|(?:{_alternation(lower_signoff_names())})\b)",
            "\\1[NAME]",
        ),
        (rf"(\[NAME\] )((?i:{stop}|{place})\b)", "\\1" + PROTECT + "\\2"),
        (rf"\[NAME\](?: {CAP_TOKEN}){{1,2}}", "[NAME]"),  # surnames after a name
        *_surname_passes(),  # "[NAME] mccarthy"
        (r"\[NAME\](?: \[NAME\])+", "[NAME]"),  # given + family name found separately
        (rf"(\[NAME\],? \x1e?(?:and|&|or|not) )({NAME_TOKEN}(?: {NAME_TOKEN})?)\b", "\\1[NAME]"),  # "Mai and Tom"
        (rf"(^|[\n.!?,] *)({CAP_TOKEN})( here\b| from (?:your|the|our)\b)", "\\1[NAME]\\3"),  # "Tom from the ..."
        # A sign-off name alone on its line, or as the message's last word after a sentence
        # ("...\nCheers\nTom", "... #123. Ming 🙏"); stop words on such a line were protected above.
        (rf"(^|\n|[.!?] )((?i:{stop}|{place}|{CUES}|{GREETINGS}|yo|sup)\b)", "\\1" + PROTECT + "\\2"),
        (rf"(^|\n|[.!?] )({NAME_TOKEN}(?: {NAME_TOKEN})?)([ \t]*[^\x00-\x7f]*[ \t]*(?:\n|$))", "\\1[NAME]\\3"),
        # The same in lower case ("...\nCheers\nduc", "... on startup. aisha 🙏"), for the given names
        # that are no English word only (the strict list, less the words protected above).
        (rf"(^|\n|[.!?] )({_alternation(lower_signoff_names())})([ \t]*[^\x00-\x7f]*[ \t]*(?:\n|$))", "\\1[NAME]\\3"),
        *run_passes(cues),
        (PROTECT, ""),
    )


#: Marks a candidate for the gazetteer lookup (:func:`run_passes`): RUN_MARK, a kind letter
#: (``r`` a run of lower-case words, ``e`` one word at a clause end), then the words.
RUN_MARK = "\x1c"
#: A clause end after a word: punctuation, or the line's end (emoji allowed before it).
_END = r"([,.!?;:]|[ \t]*[^\x00-\x7f]*[ \t]*(?:\n|$))"
#: Up to three lower-case words: a candidate run ("swati rahman", "[NAME] papadakis").
_LOW_RUN = r"([a-z][a-z'’-]*[a-z](?: [a-z][a-z'’-]*[a-z]){0,2})\b"
_END_WORD = r"[A-Za-z][a-z'’-]*[a-z]"
#: A word boundary that is no run mark. PROTECT may stand before the word: whether a pass set it
#: differs between the layered query and the single expression, so the lookup alone decides.
_LEAD_UNMARKED = r"(^|[^A-Za-z'’\[_\x1c])"
#: Where a contact line starts: the text's or a line's start, a sentence end, a placeholder.
_CLAUSE_START = r"(^|\n|[.!?] |\] )"
#: A contact line's name words: a word, or an initial ("Tahlia K.").
_CONTACT_WORD = r"(?:[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]\.)"
_BEFORE_ADDRESS = r", (?:Unit |Lot |Shop |Apt )?\[ADDRESS\]"


def run_passes(cues: str) -> tuple[tuple[str, str], ...]:
    """The gazetteer passes, after the regex passes (whose ``[NAME]`` and PROTECT marks they read).

    The gazetteers hold ~100k names: too many for a regex alternation (RE2's DFA overflows and a
    pass falls back to ~40 us a message), so candidates are marked here and decided by a lookup
    in a table (``pii_name_runs`` in SQL, :func:`decide_runs` in Python):

    * ``e``: one word between a found name and a clause end ("[NAME] Do,", "[NAME] dang.",
      "[NAME] Jones\\n"), PROTECT allowed (a stop or place word the regex passes kept);
    * ``n``, ``r``: a run of lower-case words after a found name or after a cue ("[NAME]
      christodoulou", "hi, swati rahman here"), decided word by word from its start;
    * ``p``: a capitalised word right before a found name ("Kiri [NAME]", "Long [NAME]");
    * ``a``: the words that open a contact line before its address ("marco mundine, [ADDRESS]");
    * a capitalised calendar/brand/place word that is a given name, right after a greeting or cue
      and before a clause end ("Hi Alinta,", "Thanks heaps, Jun"): a small list, a plain pass;
    * found names side by side merge into one placeholder.
    """
    ambiguous = _alternation(n.capitalize() for n in ambiguous_names())
    return (
        (rf"(\[NAME\] )\x1e?({_END_WORD}){_END}", "\\1" + RUN_MARK + "e\\2\\3"),
        (rf"(\[NAME\] ){_LOW_RUN}", "\\1" + RUN_MARK + "n\\2"),
        (rf"{cues}{_LOW_RUN}", "\\1\\2" + RUN_MARK + "r\\3"),
        (rf"{_LEAD_UNMARKED}({NAME_TOKEN}) \[NAME\]", "\\1" + RUN_MARK + "p\\2 [NAME]"),
        (
            rf"{_CLAUSE_START}({_CONTACT_WORD}(?: {_CONTACT_WORD}){{0,2}})({_BEFORE_ADDRESS})",
            "\\1" + RUN_MARK + "a\\2\\3",
        ),
        (rf"{_LEAD}((?i:{GREETINGS}|{CUES})[ \t,]{{1,3}})\x1e?(?:{ambiguous}){_END}", "\\1\\2[NAME]\\3"),
        # Most marks sit before a function word ("[NAME] and", "hi mate,", "Hi [NAME]"), which the
        # lookup never takes: a cheap pass drops those, so that only rows with a real candidate call
        # the lookup. The word must end at a space, a clause end or the text's end (the whole word).
        (rf"{RUN_MARK}[enrpa]({_alternation(_unmarked_words())})( |[,.!?;:\n]|$)", "\\1\\2"),
        (RUN_MARK, RUN_MARK),  # the lookup itself (see above)
        (r"\[NAME\](?: \[NAME\])+", "[NAME]"),
    )


def _unmarked_words() -> tuple[str, ...]:
    """Function words and titles as a candidate can hold them (lower case or capitalised): no
    rule of :func:`decide_runs` takes any of them, so a mark before one decides nothing."""
    words = [w for w in FUNCTION_WORDS | TITLES | GREETING_WORDS if _END_WORD_RE.fullmatch(w)]
    return tuple(sorted({*words, *(w.capitalize() for w in words)}))


@functools.cache
def raw_names() -> frozenset[str]:
    """Every name of the gazetteers' sources, stop words included (:func:`gazetteers` drops them)."""
    faker_given, family = _faker_names()
    names = set(faker_given) | _gender_guesser_names() | set(_EXTRA) | family
    return frozenset(n for n in names if len(n) >= 2 and _NAME_SHAPE.match(n))


@functools.cache
def ambiguous_names() -> tuple[str, ...]:
    """Given or family names that are also calendar, street, brand or place words (Alinta, Jun, Sun)."""
    return tuple(sorted(n for n in raw_names() & (STOP_WORDS - FUNCTION_WORDS) if "'" not in n))


@functools.cache
def run_lookup() -> dict[str, tuple[bool, bool, bool, bool]]:
    """name -> ``(in a run, lower case at a clause end, capitalised at a clause end, before a name)``:

    * in a run (lower case, after a cue or a found name): a gazetteer name that is no English word;
    * at a clause end after a found name, lower case: any gazetteer name ("[NAME] dang.");
    * the same capitalised: any name of the sources but a function word ("[NAME] Sun,");
    * capitalised right before a found name: a gazetteer name or one that is also a calendar,
      place or brand word ("Kiri [NAME]", "Jun [NAME]"), but no greeting, cue word or title."""
    given, family = gazetteers()
    gaz, words = given | family, common_words()
    ambiguous = set(ambiguous_names())
    cue_words = set(re.findall(r"[a-z]+", f"{GREETINGS} {CUES} yo sup"))
    never_before = TITLES | SENTENCE_STARTS | PLACE_WORDS | cue_words | set(TOPONYM_PREFIXES.lower().split("|"))
    lookup = {n: (n not in words, True, True, n not in never_before) for n in gaz}
    for n in raw_names() - gaz - FUNCTION_WORDS:
        lookup[n] = (False, False, True, n in ambiguous and n not in never_before)
    return lookup


def _run_key(word: str) -> str:
    return word.lower().replace("’", "'")


_END_WORD_RE = re.compile(_END_WORD, re.ASCII)  # as RE2 reads them in SQL
_LOW_RUN_RE = re.compile(_LOW_RUN, re.ASCII)  # as RE2 reads them in SQL
_END_RE = re.compile(_END, re.ASCII)
_AFTER_UNKNOWN_RE = re.compile(rf"{_END}| here\b", re.ASCII)
_CONTACT_RE = re.compile(rf"{_CONTACT_WORD}(?: {_CONTACT_WORD})*(?={_BEFORE_ADDRESS})", re.ASCII)
_INITIAL_RE = re.compile(r"[A-Za-z]\.", re.ASCII)


def _taken_run(kind: str, body: str, lookup) -> int:
    """How many characters of a marked run (``n`` after a found name, ``r`` after a cue) are a name.

    Word by word from its start, a word is taken while it is a gazetteer name that is no English
    word, or a word no dictionary knows (:func:`unknown_word`). Unknown words alone after a cue
    ("its yiannis,") need a clause end or "here" after them; and once a name is taken, one more
    word that is any gazetteer name is, before a clause end ("[NAME] dang.", "thuy lam 🙏").
    Unknown words alone after a cue must not look like a typing slip (:func:`looks_misspelt`)."""
    words = _LOW_RUN_RE.match(body).group(1).split(" ")
    count, known = 0, kind == "n"
    for word in words:
        key = _run_key(word)
        flags = lookup.get(key)
        if flags and flags[0]:
            known = True
        elif key in FUNCTION_WORDS or not unknown_word(key):
            break
        count += 1
    if count and not known:
        if not _AFTER_UNKNOWN_RE.match(body, len(" ".join(words[:count]))) or any(
            looks_misspelt(_run_key(w)) for w in words[:count]
        ):
            count = 0
    if (count or kind == "n") and count < len(words):
        flags = lookup.get(_run_key(words[count]))
        if flags and flags[1] and _END_RE.match(body, len(" ".join(words[: count + 1]))):
            count += 1
    return len(" ".join(words[:count]))


def _taken_contact(body: str, lookup) -> int:
    """The words before a contact line's address, if every one is a name, an unknown word or an
    initial after the first ("Tahlia K.", "Ropata Chen"); none a stop word ("Home, [ADDRESS]")."""
    words = _CONTACT_RE.match(body).group(0).split(" ")
    for i, word in enumerate(words):
        key = _run_key(word)
        if key in STOP_WORDS or key in TITLES:
            return 0
        if not ((i and _INITIAL_RE.fullmatch(word)) or key in lookup or unknown_word(key)):
            return 0
    return len(" ".join(words))


def decide_runs(text: str) -> str:
    """The gazetteer lookup of :func:`run_passes`: every marked candidate decided by
    :func:`run_lookup`, the marks removed. Both the Python twin and the SQL (as ``pii_name_runs``,
    :func:`install_lookup`) call it."""
    if RUN_MARK not in text:
        return text
    lookup = run_lookup()
    pieces = text.split(RUN_MARK)
    out = [pieces[0]]
    for piece in pieces[1:]:
        kind, body = piece[:1], piece[1:]
        taken = 0
        if kind == "e":
            word = _END_WORD_RE.match(body).group(0)
            key = _run_key(word)
            flags = lookup.get(key)
            if (flags and flags[2 if word[0].isupper() else 1]) or unknown_word(key):
                taken = len(word)
        elif kind == "p":
            word = _END_WORD_RE.match(body).group(0)
            flags = lookup.get(_run_key(word))
            if flags and flags[3]:
                taken = len(word)
        elif kind == "a":
            taken = _taken_contact(body, lookup)
        else:
            taken = _taken_run(kind, body, lookup)
        out.append("[NAME]" + body[taken:] if taken else body)
    return "".join(out)


#: The SQL name of :func:`decide_runs` (a Python function registered on the connection).
LOOKUP_FUNCTION = "pii_name_runs"


def install_lookup(con) -> None:
    """Register :func:`decide_runs` as the scalar function ``pii_name_runs(x)`` on ``con``.

    A Python function, not SQL: the lookup is a dictionary probe per candidate word, and the SQL
    forms tried were far slower. A join of the marked pieces to a name table written as a macro
    is a correlated subquery that DuckDB 1.4 runs row by row (~150 ms a row); ~100k names as a
    regex alternation overflow RE2's DFA. Only rows holding a mark pay the call: the layered
    query guards the step, and :func:`decide_runs` returns an unmarked text at once.

    Called once per vector (:mod:`pipeline.privacy.udf`): as a native per-row UDF this lookup
    was three quarters of the redaction (6.2 s for the 46k marked rows of 246k messages, the
    function's own work 0.29 s); once per vector the same rows take 0.33 s.
    """
    udf.register_text_function(con, LOOKUP_FUNCTION, decide_runs, replace=True)


@functools.cache
def lower_signoff_names() -> tuple[str, ...]:
    """Lower-case given names taken alone on a sign-off line: :func:`strict_given_names` less any
    word the sign-off pass protects (stop, place, cue and greeting words), so that protection
    never decides whether one of them is taken."""
    protected = re.compile(rf"(?i:{_alternation(STOP_WORDS | PLACE_WORDS)}|{CUES}|{GREETINGS}|yo|sup)")
    return tuple(n for n in strict_given_names() if not protected.fullmatch(n))


#: Stands in for a ``[NAME]`` that took a lower-case surname until the surname passes are done, so
#: that "[NAME] anderson bell" takes "anderson" and not then "bell" (as one pass would not either).
SURNAME_MARK = "[NAME\x1d]"


@functools.cache
def _surname_passes() -> tuple[tuple[str, str], ...]:
    """ "[NAME] mccarthy": one pass per first letter, then the mark back to ``[NAME]``.

    One alternation of all 65k names is too big for RE2's DFA, which then falls back to its NFA
    (~40 us a message); split by first letter each fits, and the layered query runs a letter's
    pass only on rows holding "[NAME] <letter>". Same result as one pass (:data:`SURNAME_MARK`)."""
    by_letter: dict[str, list[str]] = {}
    for name in lower_surnames():
        by_letter.setdefault(name[0], []).append(name)
    return (
        *((rf"\[NAME\] (?:{_alternation(group)})\b", SURNAME_MARK) for _, group in sorted(by_letter.items())),
        (re.escape(SURNAME_MARK), "[NAME]"),
    )


@functools.cache
def lower_surnames() -> tuple[str, ...]:
    """Names (lower case, not English words) taken after a found name: "[NAME] mccarthy"."""
    given, family = gazetteers()
    words = common_words()
    # O'Brien, D'Souza: an apostrophe after one letter is a surname prefix, never an English word.
    return tuple(
        sorted(
            n
            for n in given | family
            if len(n) >= 3 and n not in words and ("'" not in n or re.match(r"^[a-z]'[a-z]{2,}$", n))
        )
    )


@functools.cache
def cue_lower_names() -> tuple[str, ...]:
    """Lower-case given names accepted after a cue: the :data:`STRICT_LIMIT` most common,
    common English words included ("hey its jack here")."""
    faker_given, _ = _faker_names()
    given, _ = gazetteers()
    weight = dict(faker_given, **{n: 99 for n in _EXTRA})
    pool = sorted((n for n in weight if n in given and len(n) >= 3), key=lambda n: (-weight[n], n))
    return tuple(pool[:STRICT_LIMIT])


#: Passes that need a cue; rows whose raw text has no cue skip them (:func:`redact_sql`).
CUE_PASSES = 5


@functools.cache
def cue_guard_regex() -> str:
    return rf"{_LEAD}(?i:{CUES}){_GAP}"


def redact_sql(expr: str, literal, column: str | None = None) -> str:
    """The passes of :func:`passes` over ``expr`` (guard characters stripped first).

    With ``column`` (the raw text), the cue passes only run on rows whose raw text has a
    cue: a ``case when`` on the column, evaluated once per row.
    """
    expr = f"replace(replace(replace({expr}, {literal(SEP)}, ''), {literal(PROTECT)}, ''), {literal(RUN_MARK)}, '')"
    steps = passes()
    cued = expr
    for regex, repl in steps[:CUE_PASSES]:
        cued = f"regexp_replace({cued}, {literal(regex)}, {literal(repl)}, 'g')"
    # ``column`` is accepted for compatibility but no longer used for a cue guard: a ``case``
    # repeats ``expr`` (the whole identifier chain) in the SQL text, which cost more than the
    # cue passes it skipped (measured, 50k messages, 2 threads: 8.2k -> 18.3k messages/s).
    expr = cued
    for regex, repl in steps[CUE_PASSES:]:
        if regex == PROTECT:
            expr = f"replace({expr}, {literal(regex)}, '')"
        elif regex == RUN_MARK:
            expr = f"{LOOKUP_FUNCTION}({expr})"
        else:
            expr = f"regexp_replace({expr}, {literal(regex)}, {literal(repl)}, 'g')"
    return expr


@functools.cache
def layer_groups() -> tuple[tuple[str | None, tuple[tuple[str, str], ...]], ...]:
    """:func:`passes` in groups, each with a regex the text must match for the group to change
    anything (None: always run). The layered query (:func:`pipeline.privacy.patterns.redact_query`)
    runs a group only on rows whose current text matches; the single expression runs them all.

    * the cue passes need a cue (a greeting or a cue word with its gap): nothing else starts them;
    * the passes from the one after "given names anywhere" to the one before "Tom from the" start
      with a found ``[NAME]``;
    * the sign-off pair (protect line starts, then take a lone name on its line) only matters where
      the second pass can match: the first only inserts PROTECT, which is removed at the end.
    """
    steps = passes()
    cue_any = rf"{_LEAD}(?:(?i:{GREETINGS}){_LINE_GAP}|(?i:{CUES}){_GAP})"
    surnames = _surname_passes()
    first = steps.index(surnames[0])
    last = first + len(surnames) - 1  # the mark back to [NAME]
    assert steps[-1][0] == PROTECT and steps[first - 1][0].startswith(r"\[NAME\](?: ")
    assert steps[last + 14][0] == RUN_MARK and len(steps) == last + 17
    return (
        (None, steps[:1]),
        (cue_any, steps[1:CUE_PASSES]),
        (None, steps[CUE_PASSES:7]),
        (re.escape("[BANK_ACCOUNT]"), steps[7:8]),
        (r"\[NAME\]", steps[8:first]),
        *(
            (rx[: len(r"\[NAME\] ")] + rx[len(r"\[NAME\] (?:")], (step,))
            for rx, step in zip((r for r, _ in surnames[:-1]), surnames[:-1])
        ),
        (re.escape(SURNAME_MARK), steps[last : last + 1]),
        (r"\[NAME\]", steps[last + 1 : last + 3]),
        (None, steps[last + 3 : last + 4]),
        (steps[last + 5][0], steps[last + 4 : last + 6]),
        # Lower-case sign-off: a lower-case word alone at a line end (the name list itself is big).
        (r"(^|\n|[.!?] )[a-z][a-z'’-]*[ \t]*[^\x00-\x7f]*[ \t]*(?:\n|$)", steps[last + 6 : last + 7]),
        # The gazetteer passes (run_passes): after a found name, after a cue, the lookup where a
        # mark was set, the merge where two names meet.
        (r"\[NAME\] ", steps[last + 7 : last + 9]),
        (cue_any, steps[last + 9 : last + 10]),
        (r"[A-Za-z] \[NAME\]", steps[last + 10 : last + 11]),  # a word before a found name
        (_BEFORE_ADDRESS, steps[last + 11 : last + 12]),  # a contact line
        (cue_any, steps[last + 12 : last + 13]),
        (re.escape(RUN_MARK), steps[last + 13 : last + 14]),
        (re.escape(RUN_MARK), steps[last + 14 : last + 15]),  # the lookup: only rows still marked
        (re.escape("[NAME] [NAME]"), steps[last + 15 : last + 16]),
        (PROTECT, steps[last + 16 :]),  # removing PROTECT: only where there is one
    )


@functools.cache
def _compiled() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(regex, re.ASCII), repl) for regex, repl in passes())


def redact_python(text: str) -> str:
    """Python twin of :func:`redact_sql`."""
    text = text.replace(SEP, "").replace(PROTECT, "").replace(RUN_MARK, "")
    for regex, repl in _compiled():
        text = decide_runs(text) if repl == RUN_MARK else regex.sub(repl, text)
    return text
