"""The job-ask check: does a letter ask its recipient for a job?

An informational interview gathers information; it is never a request for a job, and only a
``feeler`` letter may ask about openings. Which phrasings count as asking is data, kept in
``job_ask_phrases.txt`` next to this module (its header documents the pattern syntax): patterns
grouped by the act they perform (asking to be considered, to be told of openings, to have a CV
forwarded, ...), each act saying why it reads as a job request and what to ask instead. This
module normalises text, compiles the phrasebook once at import, and finds the first ask of each
sentence. The work is linear in the text's length (gaps between words are bounded).

Patterns recognise the phrasings they were written for; writers find others. So each sentence
is read twice over:

1. the phrasebook first. A phrase it matches refuses the sentence (the earliest is quoted). A
   sentence it exempts, or in which every phrase it matches follows a negation ("I am not
   asking you for a job"), passes: the phrasebook has the last word wherever it speaks, save
   where a sentence it would refuse holds one of its ``aside`` disclaimers ("attached for
   your information only"): that sentence goes to the classifier, which reads all of it.
2. the sentences it leaves open go to a small linear classifier (``job_ask_model``), trained
   on the labelled development corpus at build time and shipped as ``job_ask_model.json``. A
   score above its threshold refuses the sentence; the classifier names the act it performs
   and quotes its most telling words, and the finding carries no phrasebook ``pattern``. Two
   neighbouring open sentences are also read as one, against a higher bar of their own, for
   an ask split in two ("Is the bar hiring? I'd be keen.").

Text-message shorthand is spelled out as text is normalised ("u" reads as "you", "lmk" as "let
me know"), so a letter written like a text meets the same patterns and features.

Matching runs on normalised text, one sentence at a time, on whole words; every normalised
character remembers where it came from, so the phrase reported is quoted as the user wrote it.
Both readings are linear in the sentence's length.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from app.letters import job_ask_model

PHRASES_FILE = "job_ask_phrases.txt"

#: A match preceded, within this many words of its sentence, by a negation does not count.
NEGATION_WINDOW = 6

MAX_GAP = 8

#: The classifier reads at most this many pairs of neighbouring sentences in one text: a letter
#: has a few dozen sentences, and a text of thousands costs no more than about twice a letter.
MAX_PAIRS = 64

#: Words that join a match to a negated clause before it ("not this or that").
_ALTERNATIVES = frozenset({"or", "nor"})

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
    }
)
_SENTENCE_END = frozenset(".!?;\n\r")

#: Text-message shorthand, read as the words it stands for ("could u lmk" reads as "could you
#: let me know"), so that a letter written like a text meets the same patterns and features.
_SHORTHAND = {
    "u": "you",
    "ur": "your",
    "urs": "yours",
    "r": "are",
    "pls": "please",
    "plz": "please",
    "plss": "please",
    "ppl": "people",
    "w": "with",
    "im": "i m",
    "ive": "i ve",
    "lmk": "let me know",
    "hmu": "hit me up",
    "thx": "thanks",
    "abt": "about",
    "cuz": "because",
    "coz": "because",
    "wanna": "want to",
    "gonna": "going to",
    "lemme": "let me",
    "gimme": "give me",
    "rn": "now",
}


class PhrasebookError(ValueError):
    """The phrases file does not parse; raised at import, so a bad edit never ships quietly."""


@dataclass(frozen=True)
class Act:
    """What a group of phrasings does, why that reads as a job request, and what to ask instead."""

    name: str
    why: str
    instead: str


#: The act of phrasings listed before any ``== act`` header.
ASKING = Act(
    "asking",
    "It asks the reader for a job, or for help getting one.",
    "Would you be willing to share how you found your way into this field?",
)


@dataclass(frozen=True)
class JobAsk:
    """A job ask found in a text."""

    phrase: str  # the words as written in the letter
    pattern: str  # the line of the phrasebook that matched ("" when the classifier found it)
    act: Act = ASKING
    sentence: str = ""  # the sentence it is in, as written
    start: int = 0  # where the phrase starts and ends in the text (end exclusive)
    end: int = 0

    @property
    def why(self) -> str:
        return self.act.why

    @property
    def suggestion(self) -> str:
        return self.act.instead


@dataclass(frozen=True)
class _Sentence:
    text: str  # normalised words, one space apart
    origin: tuple[int, ...]  # for each character of ``text``, its index in the original
    end: int  # where the sentence ends in the original, its closing mark included


@dataclass(frozen=True)
class Reading:
    """What the phrasebook makes of one sentence."""

    sentence: _Sentence
    ask: JobAsk | None  # the phrasebook's earliest ask in it
    #: The phrasebook has the last word: it found an ask, or the sentence is exempt, or every
    #: phrase it matches is negated ("I am not asking you for a job"). Otherwise the
    #: classifier reads the sentence.
    decided: bool


@dataclass(frozen=True)
class _Phrase:
    source: str
    regex: re.Pattern[str]
    act: Act = ASKING


@dataclass(frozen=True)
class Phrasebook:
    """The compiled phrases, the words that negate them, and the sentences that are exempt."""

    phrases: tuple[_Phrase, ...]
    negations: frozenset[str]
    any_phrase: re.Pattern[str]  # all phrases at once: most sentences are ruled out in one scan
    exempt: re.Pattern[str] | None = None  # sentences starting so ask about a process
    aside: re.Pattern[str] | None = None  # words anywhere that make a match a disclaimer
    classes: tuple[tuple[str, re.Pattern[str]], ...] = ()  # the @ definitions, as word classes

    def find(self, text: str) -> JobAsk | None:
        """The earliest job ask in ``text``, or ``None`` (the phrasebook alone)."""
        found = self.find_all(text, limit=1)
        return found[0] if found else None

    def find_all(self, text: str, *, limit: int) -> list[JobAsk]:
        """The earliest job ask of each sentence of ``text``, in order, at most ``limit``."""
        found: list[JobAsk] = []
        for reading in self.readings(text):
            if reading.ask is not None:
                found.append(reading.ask)
                if len(found) >= limit:
                    break
        return found

    def readings(self, text: str) -> Iterator[Reading]:
        """What the phrasebook makes of each sentence of ``text``, in order."""
        for sentence in _sentences(text):
            yield self._read(text, sentence)

    @property
    def lexicon(self) -> job_ask_model.Lexicon:
        """The word classes and negations the classifier reads sentences with."""
        return job_ask_model.Lexicon(self.classes, self.negations, NEGATION_WINDOW)

    @property
    def fingerprint(self) -> str:
        """A digest of everything the phrasebook decides with (comments and layout aside)."""
        parts = [" ".join(sorted(self.negations))]
        parts += [f"@{name} {regex.pattern}" for name, regex in self.classes]
        parts += [f"{p.act.name} {p.regex.pattern}" for p in self.phrases]
        parts += [self.exempt.pattern if self.exempt is not None else ""]
        if self.aside is not None:
            parts += ["aside " + self.aside.pattern]
        return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()

    def _read(self, text: str, sentence: _Sentence) -> Reading:
        padded = f" {sentence.text} "
        if self.any_phrase.search(padded) is None:
            return Reading(sentence, None, decided=False)
        if self.exempt is not None and self.exempt.match(padded):
            return Reading(sentence, None, decided=True)
        ask = self._in_sentence(text, sentence)
        if ask is not None and self.aside is not None and self.aside.search(padded):
            # "my CV is attached for your information only": the phrase that matched may be
            # a disclaimer's, so the classifier, which reads the whole sentence, decides.
            return Reading(sentence, None, decided=False)
        return Reading(sentence, ask, decided=True)

    def _in_sentence(self, text: str, sentence: _Sentence) -> JobAsk | None:
        padded = f" {sentence.text} "
        negated = self._negations(sentence.text)
        best: tuple[int, int, _Phrase] | None = None
        for phrase in self.phrases:
            for match in phrase.regex.finditer(padded):
                words = match.group().strip()
                start = match.start() - 1  # index into sentence.text (the pad is gone)
                if negated(start):
                    continue
                first = sentence.origin[start]
                last = sentence.origin[start + len(words) - 1]
                if best is None or (first, -last) < (best[0], -best[1]):
                    best = (first, last, phrase)
                break  # a later match of the same phrase cannot come earlier
        if best is None:
            return None
        first, last, phrase = best
        return JobAsk(
            phrase=text[first : last + 1],
            pattern=phrase.source,
            act=phrase.act,
            sentence=text[sentence.origin[0] : sentence.end].strip(),
            start=first,
            end=last + 1,
        )

    def _negations(self, text: str) -> Callable[[int], bool]:
        """Whether a match starting at a character of ``text`` (a sentence) is negated.

        It is when one of the ``NEGATION_WINDOW`` words before it negates. The words and where
        they start are listed once per sentence, so each match costs a binary search rather
        than a fresh split of everything before it (which made long sentences quadratic).
        """
        words = text.split(" ")
        starts: list[int] = []
        offset = 0
        for word in words:
            starts.append(offset)
            offset += len(word) + 1

        def negated(start: int) -> bool:
            before = bisect_left(starts, start)  # the words that start before the match
            window = words[max(0, before - NEGATION_WINDOW) : before]
            if any(word in _ALTERNATIVES for word in window):
                # "I won't ask you for a job or to pass on my CV": the negation carries over.
                window = words[max(0, before - 2 * NEGATION_WINDOW) : before]
            return any(word in self.negations for word in window)

        return negated


@lru_cache(maxsize=4096)
def _fold(ch: str) -> str:
    """One character as matching sees it: NFKC, quotes straightened, lower-case, no accents."""
    folded = unicodedata.normalize("NFKC", ch).translate(_QUOTES).lower()
    folded = unicodedata.normalize("NFKD", folded)
    return "".join(c for c in folded if not unicodedata.combining(c))


def _sentences(text: str) -> list[_Sentence]:
    """Split ``text`` into normalised sentences, keeping each character's origin."""
    sentences: list[_Sentence] = []
    chars: list[str] = []
    origin: list[int] = []

    def flush(end: int) -> None:
        while chars and chars[-1] == " ":
            chars.pop()
            origin.pop()
        if chars:
            text, where = _spelled_out("".join(chars), origin)
            sentences.append(_Sentence(text, where, end))
        chars.clear()
        origin.clear()

    for index, ch in enumerate(text):
        for c in _fold(ch):
            if c in _SENTENCE_END:
                flush(index + 1 if c in ".!?" else index)
                continue
            if not c.isalnum():
                if not chars or chars[-1] == " ":
                    continue
                c = " "
            chars.append(c)
            origin.append(index)
    flush(len(text))
    return sentences


def _spelled_out(text: str, origin: list[int]) -> tuple[str, tuple[int, ...]]:
    """A normalised sentence with its shorthand spelled out (``_SHORTHAND``), origins kept.

    Every character of a spelled-out word comes from the shorthand's first character, so a
    phrase that starts or ends on it is still quoted as written.
    """
    out: list[str] = []
    where: list[int] = []
    start = 0
    for word in text.split(" "):
        spelled = _SHORTHAND.get(word, word)
        if out:
            out.append(" ")
            where.append(origin[start - 1])
        out.append(spelled)
        if spelled is word:
            where.extend(origin[start : start + len(word)])
        else:
            where.extend([origin[start]] * (len(spelled) - 1) + [origin[start + len(word) - 1]])
        start += len(word) + 1
    return "".join(out), tuple(where)


def normalise(text: str) -> str:
    """``text`` as the phrasebook sees it: lower-case words separated by single spaces."""
    return " ".join(sentence.text for sentence in _sentences(text))


# --- the pattern language (documented at the top of the phrases file) --------------------

_TOKEN = re.compile(r"\{\s*(\d+)\s*,\s*(\d+)\s*\}|[()|?]|@[a-z_]+|[^\s(){}|?@]+")


class _Parser:
    """Recursive descent over one pattern line; produces a regex fragment."""

    def __init__(self, line: str, macros: dict[str, str]) -> None:
        self.line = line
        self.macros = macros
        self.tokens = [m.group() for m in _TOKEN.finditer(line)]
        rebuilt = "".join(self.tokens)
        if rebuilt != re.sub(r"\s+", "", line):
            raise PhrasebookError(f"unexpected characters in pattern: {line!r}")
        self.pos = 0

    def parse(self) -> str:
        fragment = self._alternatives()
        if self.pos != len(self.tokens):
            raise PhrasebookError(f"unbalanced ')' or '|' in pattern: {self.line!r}")
        return fragment

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _alternatives(self) -> str:
        options = [self._sequence()]
        while self._peek() == "|":
            self.pos += 1
            options.append(self._sequence())
        if any(option == "" for option in options):
            raise PhrasebookError(f"empty alternative in pattern: {self.line!r}")
        return options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"

    def _sequence(self) -> str:
        parts: list[str] = []
        while (token := self._peek()) is not None and token not in ("|", ")"):
            part = self._item()
            if self._peek() == "?":
                self.pos += 1
                part = f"(?:{part})?"
            parts.append(part)
        return "".join(parts)

    def _item(self) -> str:
        token = self.tokens[self.pos]
        self.pos += 1
        if token == "(":
            inner = self._alternatives()
            if self._peek() != ")":
                raise PhrasebookError(f"missing ')' in pattern: {self.line!r}")
            self.pos += 1
            return f"(?:{inner})"
        if token == "?":
            raise PhrasebookError(f"'?' follows nothing in pattern: {self.line!r}")
        if token.startswith("{"):
            low, high = (int(n) for n in re.findall(r"\d+", token))
            if low > high or high > MAX_GAP:
                raise PhrasebookError(f"bad gap {token} (0 <= n <= m <= {MAX_GAP}): {self.line!r}")
            return rf"(?:\w+ ){{{low},{high}}}"
        if token.startswith("@"):
            name = token[1:]
            if name not in self.macros:
                raise PhrasebookError(f"@{name} is used before it is defined: {self.line!r}")
            return f"(?:{self.macros[name]})"
        return _word(token, self.line)


def _word(token: str, line: str) -> str:
    prefix = token.endswith("*")
    words = normalise(token.rstrip("*")).split()
    if not words or "*" in token.rstrip("*"):
        raise PhrasebookError(f"bad word {token!r} in pattern: {line!r}")
    fragment = "".join(re.escape(w) + " " for w in words)
    if prefix:
        fragment = fragment[:-1] + r"\w* "
    return fragment


_DEFINITION = re.compile(r"^@([a-z_]+)\s*=\s*(.+)$")
_NEGATE = re.compile(r"^negate\s*:\s*(.+)$")
_UNLESS = re.compile(r"^unless\s*:\s*(.+)$")
_ASIDE = re.compile(r"^aside\s*:\s*(.+)$")
_ACT = re.compile(r"^==\s*([a-z_]+)$")
_ACT_TEXT = re.compile(r"^(why|instead)\s*:\s*(.+)$")


def parse_phrasebook(text: str) -> Phrasebook:
    """Compile a phrases file (see ``job_ask_phrases.txt`` for the syntax)."""
    macros: dict[str, str] = {}
    phrases: list[_Phrase] = []
    negations: set[str] = set()
    fragments: list[str] = []
    exempt: list[str] = []
    aside: list[str] = []
    act = ASKING
    pending: dict[str, str] | None = None  # an act whose header is read, its texts not yet

    def close_act() -> None:
        if pending is not None:
            raise PhrasebookError(f"act {pending['name']!r} needs both why: and instead:")

    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if header := _ACT.match(line):
            close_act()
            pending = {"name": header.group(1)}
            continue
        if pending is not None:
            said = _ACT_TEXT.match(line)
            if said is None:
                close_act()
            else:
                pending[said.group(1)] = said.group(2)
                if "why" in pending and "instead" in pending:
                    act = Act(pending["name"], pending["why"], pending["instead"])
                    pending = None
                continue
        if negate := _NEGATE.match(line):
            negations.update(normalise(negate.group(1)).split())
            continue
        if unless := _UNLESS.match(line):
            exempt.append(_Parser(unless.group(1), macros).parse())
            continue
        if found_aside := _ASIDE.match(line):
            aside.append(_Parser(found_aside.group(1), macros).parse())
            continue
        if definition := _DEFINITION.match(line):
            name, body = definition.groups()
            macros[name] = _Parser(body, macros).parse()
            continue
        fragment = _Parser(line, macros).parse()
        if re.fullmatch(fragment, "") is not None:
            raise PhrasebookError(f"pattern can match nothing at all: {line!r}")
        phrases.append(_Phrase(line, re.compile("(?<= )" + fragment), act))
        fragments.append(fragment)
    close_act()
    if not phrases:
        raise PhrasebookError("the phrasebook holds no patterns")
    any_phrase = re.compile("(?<= )(?:" + "|".join(fragments) + ")")
    exempting = re.compile("^ (?:" + "|".join(exempt) + ")") if exempt else None
    asides = re.compile("(?<= )(?:" + "|".join(aside) + ")") if aside else None
    classes = tuple((name, re.compile(f"(?<= )(?:{body})")) for name, body in macros.items())
    return Phrasebook(
        tuple(phrases), frozenset(negations), any_phrase, exempting, classes=classes, aside=asides
    )


def _load() -> Phrasebook:
    text = resources.files(__package__ or "app.letters").joinpath(PHRASES_FILE).read_text("utf-8")
    return parse_phrasebook(text)


PHRASEBOOK = _load()


@lru_cache(maxsize=1)
def classifier() -> job_ask_model.Model:
    """The classifier shipped beside the phrasebook, read once on first use.

    Read lazily, not at import, so that ``python -m app.letters.job_ask_model build`` can
    import the phrasebook while the file it is about to write is missing or out of date.
    """
    package = resources.files(__package__ or "app.letters")
    model = job_ask_model.load(package.joinpath(job_ask_model.MODEL_FILE).read_text("utf-8"))
    unknown = set(model.acts) - set(_ACTS)
    if unknown:
        raise job_ask_model.ModelError(f"the model names acts the phrasebook lacks: {unknown}")
    return model


_LEXICON = PHRASEBOOK.lexicon
_ACTS = {phrase.act.name: phrase.act for phrase in reversed(PHRASEBOOK.phrases)}


def _joined(first: _Sentence, second: _Sentence) -> _Sentence:
    """Two neighbouring sentences as one, each character still knowing where it came from."""
    return _Sentence(
        f"{first.text} {second.text}", (*first.origin, second.origin[0], *second.origin), second.end
    )


def _classify(text: str, sentence: _Sentence, *, pair: bool = False) -> JobAsk | None:
    """The classifier's ask in a sentence the phrasebook left open (or two), or ``None``."""
    model = classifier()
    words = sentence.text.split(" ")
    found = job_ask_model.features(words, _LEXICON)
    if not model.asks(found, pair=pair):
        return None
    first, last = model.telling(found, len(words))
    start = sum(len(word) + 1 for word in words[:first])
    end = start + sum(len(word) + 1 for word in words[first : last + 1]) - 2
    begin, finish = sentence.origin[start], sentence.origin[end]
    return JobAsk(
        phrase=text[begin : finish + 1],
        pattern="",
        act=_ACTS[model.act(found)],
        sentence=text[sentence.origin[0] : sentence.end].strip(),
        start=begin,
        end=finish + 1,
    )


def find_job_ask(text: str) -> JobAsk | None:
    """The first sentence of ``text`` that asks for a job (its first ask), or ``None``."""
    found = find_job_asks(text, limit=1)
    return found[0] if found else None


def find_job_asks(text: str, *, limit: int) -> list[JobAsk]:
    """Every sentence of ``text`` that asks for a job (its first ask), at most ``limit``.

    The phrasebook reads each sentence first and has the last word where it speaks: a phrase
    it matches refuses the sentence, and a sentence it exempts, or whose every match is
    negated, passes. The classifier reads the sentences it leaves open, each alone and, when
    the sentence before was open too and passed, the two as one ("Is your team hiring? I'd
    love to be part of it."), against a bar of its own (at most ``MAX_PAIRS`` pairs a text).
    """
    found: list[JobAsk] = []
    previous: _Sentence | None = None  # the sentence before, open and passed
    pairs = 0
    for reading in PHRASEBOOK.readings(text):
        ask = reading.ask
        if ask is None and not reading.decided:
            ask = _classify(text, reading.sentence)
            if ask is None and previous is not None and pairs < MAX_PAIRS:
                pairs += 1
                ask = _classify(text, _joined(previous, reading.sentence), pair=True)
            previous = reading.sentence if ask is None else None
        else:
            previous = None
        if ask is not None:
            found.append(ask)
            if len(found) >= limit:
                break
    return found
