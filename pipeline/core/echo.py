"""The win echo: does a partner's sentence, written from memory, say the coalition's win?

A win sentence has four parts: who, what, how much and by when ("Harbour County families |
will move into stable homes | 200 | by June 2026"). A partner's answer is marked:

- ``match``   when it carries at least three of the four parts, one of them being *what* (a win
  that states fewer parts: all it states);
- ``partial`` when it carries *what*, or any two parts, or at least half the win's content words;
- ``off``     otherwise (an empty answer is always off).

How a part is found in an answer, after both are normalised (below):

- *who* and *what*: at least half of the part's content words (rounded up) are in the answer.
- *how much*: every number in the part is in the answer; a part without a number falls back to
  the content-word rule.
- *by when*: every year (four digits) and month the part names is in the answer; a part with
  neither falls back to the content-word rule ("within 18 months" needs "18" and "month").
- An empty part can never be found (and the win is then not complete: see ``WinSentence``).

Normalising makes the rule blind to case, punctuation, word order and simple plurals: text is
lower-cased; "%" and "per cent" become "percent"; thousands separators go ("1,200" is 1200);
number words zero to twenty and the tens become digits ("two hundred" stays 2 and "hundred");
month abbreviations become the month ("Jun" is "june"); every run of other characters splits
words; possessive "'s" goes; plurals are folded to a stem ("families" -> "family", "boxes" ->
"box", "homes" -> "home", but not "bus", "crisis" or "less"). Content words are the
normalised words that are not in a short list of English stop words ("the", "will", "our", ...).

The rule is deterministic and small on purpose: a lead can override any mark, and the reasons
(which parts were found, how many content words were shared) are shown next to the mark.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class EchoMark(StrEnum):
    """How well an answer echoes the win; its weight in the echo rate is ``credit``."""

    MATCH = "match"
    PARTIAL = "partial"
    OFF = "off"

    @property
    def credit(self) -> float:
        """Return the answer's weight in the echo rate: match 1, partial 0.5, off 0."""
        return {"match": 1.0, "partial": 0.5, "off": 0.0}[self.value]


class WinPart(StrEnum):
    """The four parts of a win sentence, in the order people say them."""

    WHO = "who"
    WHAT = "what"
    HOW_MUCH = "how much"
    BY_WHEN = "by when"


_STOP_WORDS_TEXT = """
    a an the and or but of to in on at by for with from into onto as than then that this these
    those it its we our ours us you your they their them he she his her i my me be is are was
    were been being will shall would should can could may might must have has had do does did
    so such all any each every some more most less least very just also about over under up
    down out off per there here who what when where which how why whom whose not no yes
    """
STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
}

MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_ABBREVIATIONS = {m[:3]: m for m in MONTHS} | {"sept": "september"}
# "may" is both a month and a stop word: parts are looked up among all the answer's words, stop
# words included, so "by May 2027" is still found.

# Words ending in s that are not plurals, so folding must leave them alone.
_NOT_PLURAL_ENDINGS = ("ss", "us", "is", "ous")


def _fold_plural(word: str) -> str:
    """Return the singular stem of a simple English plural; other words unchanged."""
    if len(word) <= 3 or not word.endswith("s") or word.isdigit():
        return word
    if word.endswith(_NOT_PLURAL_ENDINGS):
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    return word[:-1]


def words(text: str) -> tuple[str, ...]:
    """Return the normalised words of a text, in order (stop words included)."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,200 -> 1200
    text = re.sub(r"per\s+cent\b", " percent ", text)
    text = text.replace("%", " percent ")
    text = re.sub(r"'s\b", "", text)
    out = []
    for raw in re.findall(r"[a-z]+|\d+(?:\.\d+)?", text):
        word = _NUMBER_WORDS.get(raw, raw)
        word = _MONTH_ABBREVIATIONS.get(word, word)
        out.append(_fold_plural(word))
    return tuple(out)


def content_words(text: str) -> frozenset[str]:
    """Return the normalised words of a text that carry meaning (no stop words)."""
    return frozenset(w for w in words(text) if w not in STOP_WORDS)


def _numbers(text: str) -> frozenset[str]:
    return frozenset(w for w in words(text) if w[0].isdigit())


def _anchors(text: str) -> frozenset[str]:
    """Return the years and month names a by-when part pins down."""
    return frozenset(w for w in words(text) if w in MONTHS or (w.isdigit() and len(w) == 4))


@dataclass(frozen=True)
class WinSentence:
    """The coalition's win, by its four parts; ``text`` is the sentence people read."""

    who: str
    what: str
    how_much: str
    by_when: str
    text: str = ""

    @property
    def sentence(self) -> str:
        """Return the win as one sentence: ``text`` if given, else the parts joined."""
        if self.text.strip():
            return self.text.strip()
        return " ".join(p.strip() for p in (self.who, self.what, self.how_much, self.by_when))

    def part(self, which: WinPart) -> str:
        """Return the words of one part."""
        return {
            WinPart.WHO: self.who,
            WinPart.WHAT: self.what,
            WinPart.HOW_MUCH: self.how_much,
            WinPart.BY_WHEN: self.by_when,
        }[which]

    @property
    def missing_parts(self) -> tuple[WinPart, ...]:
        """Return the parts the win does not state (the exit test wants none)."""
        return tuple(
            p for p in WinPart if not content_words(self.part(p)) and not _anchors(self.part(p))
        )

    @property
    def complete(self) -> bool:
        """Say whether the win names who, what, how much and by when."""
        return not self.missing_parts

    @classmethod
    def from_text(cls, text: str) -> WinSentence:
        """Split a plain win sentence into its parts, best effort.

        The by-when part is the trailing clause from "by", "before", "within" or "in <year>",
        or a leading one up to its year or first comma ("By 2028 ...", "By June 2027, ...");
        how much is the first number with the word after it ("200 families", "30%"); who is
        everything before " will " when the sentence has it; what is the rest. A coalition that
        states its parts in its file should pass them instead.
        """
        rest = text.strip().rstrip(".")
        by_when = ""
        # A leading "By 2028 ..." or "By December 2027, ..." clause ends at its year (or comma).
        lead = re.match(r"(by|before|within|in)\b[^,]*?\b\d{4}\b,?|(by|before|within)\b[^,]*,",
                        rest, flags=re.I)
        if lead:
            by_when = lead.group(0).rstrip(",").strip()
            rest = rest[lead.end():].strip()
        when = None if by_when else re.search(
            r"\b(by|before|within|in(?=\s+\d{4}))\b.*$", rest, flags=re.I)
        if when and re.search(r"\d|" + "|".join(MONTHS), when.group(0), flags=re.I):
            by_when = when.group(0).strip()
            rest = rest[: when.start()].strip()
        how_much = ""
        amount = re.search(r"\d[\d,.]*\s*(%|per\s*cent|[A-Za-z]+)?", rest)
        if amount:
            how_much = amount.group(0).strip()
        who, what = "", rest
        if re.search(r"\bwill\b", rest, flags=re.I):
            who, what = re.split(r"\bwill\b", rest, maxsplit=1, flags=re.I)
        if how_much:
            what = what.replace(how_much, " ")
        return cls(
            who=who.strip(),
            what=" ".join(what.split()),
            how_much=how_much,
            by_when=by_when,
            text=text.strip(),
        )


@dataclass(frozen=True)
class Echo:
    """The mark for one answer and the reasons behind it."""

    mark: EchoMark
    found: tuple[WinPart, ...]
    missing: tuple[WinPart, ...]
    shared_words: tuple[str, ...]  # the win's content words the answer also uses, sorted
    win_words: int  # how many content words the win has

    @property
    def overlap(self) -> float:
        """Return the share of the win's content words the answer uses (0-1)."""
        return len(self.shared_words) / self.win_words if self.win_words else 0.0

    @property
    def reason(self) -> str:
        """Return one line saying why: the parts found and missing, the words shared."""
        found = ", ".join(self.found) or "no part"
        line = f"found {found}"
        if self.missing:
            line += f"; missing {', '.join(self.missing)}"
        return f"{line}; {len(self.shared_words)} of {self.win_words} content words shared"


def _part_found(part: WinPart, text: str, answer_words: frozenset[str]) -> bool:
    if part is WinPart.HOW_MUCH and _numbers(text):
        return _numbers(text) <= answer_words
    if part is WinPart.BY_WHEN and _anchors(text):
        return _anchors(text) <= answer_words
    wanted = content_words(text)
    if not wanted:
        return False
    needed = (len(wanted) + 1) // 2
    return len(wanted & answer_words) >= needed


def echo(win: WinSentence, answer: str) -> Echo:
    """Mark a partner's one-sentence answer against the win (rule in the module docstring)."""
    answer_words = frozenset(words(answer))
    found = tuple(p for p in WinPart if _part_found(p, win.part(p), answer_words))
    missing = tuple(p for p in WinPart if p not in found)
    win_content = content_words(" ".join([win.sentence, *(win.part(p) for p in WinPart)]))
    shared = tuple(sorted(win_content & answer_words))
    overlap = len(shared) / len(win_content) if win_content else 0.0
    if not answer_words:
        mark = EchoMark.OFF
    elif len(found) >= min(3, 4 - len(win.missing_parts)) and WinPart.WHAT in found:
        mark = EchoMark.MATCH
    elif WinPart.WHAT in found or len(found) >= 2 or overlap >= 0.5:
        mark = EchoMark.PARTIAL
    else:
        mark = EchoMark.OFF
    return Echo(
        mark=mark, found=found, missing=missing, shared_words=shared, win_words=len(win_content)
    )


def echo_rate(marks: Iterable[EchoMark | str]) -> float | None:
    """Return the echo rate in percent (match 1, partial 0.5, off 0), or None with no answers."""
    credits = [EchoMark(m).credit for m in marks]
    if not credits:
        return None
    return 100.0 * sum(credits) / len(credits)
