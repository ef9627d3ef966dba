"""Text as it may be stored: what partners type into forms and admins put in files.

Everything that enters from outside passes here once, at the edge, so later steps (PostgreSQL,
email headers, CSV exports, pages) never see a NUL byte, a hidden direction override or half an
emoji. Two kinds of result:

- cleaning, which is silent and always succeeds: `clean_text`, `clean_name`;
- refusing, which gives a sentence for the person who typed it: `text_problem`, `name_problem`
  (a name that is blank or too long must be asked for again, not guessed).

`typed_names` reads a list of names typed into one box.

`neutralise_formula` and `neutralise_row` make cells safe to open in a spreadsheet.
`decode_file_text` reads a file's bytes (UTF-8, or UTF-16 with a byte order mark), naming the
line of the first byte it cannot read.

Lengths count code points, as `len()` and PostgreSQL's `varchar(n)` do.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

TEXT_MAX_LENGTH = 2000  # the longest free-text box on the check-in form
NAME_MAX_LENGTH = 200  # the name columns are varchar(200)

# Every line break people's devices send, read as one LF. VT, FF, NEL and the Unicode line and
# paragraph separators are breaks to str.splitlines, so they become LF rather than vanish and
# glue two words together.
_LINE_BREAKS = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")

# C0 and C1 controls other than TAB and LF, with DEL. NUL is here: PostgreSQL refuses it in text.
_CONTROLS = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f]")

# Embedding, override and isolate controls reorder what a reader sees ("Trojan Source").
# The plain marks LRM, RLM and ALM only nudge neutral characters and stay.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")

# Invisible characters with no use in typed text: zero-width space, word joiner, invisible
# operators and the BOM (as a zero-width no-break space).
_INVISIBLE = re.compile("[\u200b\u2060-\u2064\ufeff]")

_ZWNJ, _ZWJ = "\u200c", "\u200d"
_JOINERS = re.compile("[\u200c\u200d]")

# Tag characters spell subdivision flags after a black flag (England, Scotland, Wales);
# anywhere else they are invisible ASCII that can smuggle text past a human reader.
_TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
_TAG_FLAG = re.compile("[\U000e0020-\U000e007e]+\U000e007f")
_BLACK_FLAG = "\U0001f3f4"

_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

_TRAILING_SPACE = re.compile(r"[^\S\n]+$", re.MULTILINE)

# First characters a spreadsheet may take as the start of a formula (OWASP "CSV Injection"),
# with their fullwidth and small forms, which some spreadsheets fold to ASCII.
_FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)*")


def clean_text(value: str | None, max_length: int | None = None) -> str:
    """Return free text fit to store: NFC, one kind of line break, nothing hidden or broken.

    Removes NUL and other control characters (tab and newline stay), lone surrogates,
    direction overrides and isolates, and zero-width characters that join nothing (a joiner
    stays inside an emoji sequence or between letters, where Indic and Persian spelling need
    it); strips trailing spaces on each line and blank space around the whole. With
    `max_length`, cuts to at most that many code points, never inside a character cluster.
    """
    text = _clean(value or "")
    if max_length is not None and len(text) > max_length:
        # Re-cleaning the cut tail drops a joiner or space the cut left at the end, so that
        # cleaning twice gives what cleaning once gave.
        text = _clean(text[: _cluster_cut(text, max_length)])
    return text


def clean_name(value: str | None) -> str:
    """Return a one-line name: cleaned like text, every run of whitespace made one space."""
    return " ".join(clean_text(value).split())


def text_problem(value: str | None, max_length: int = TEXT_MAX_LENGTH) -> str | None:
    """Say why free text must be typed again, or None when cleaning it is enough."""
    length = len(clean_text(value))
    if length > max_length:
        return (
            f"This is {length:,} characters long; the limit is {max_length:,}. Please shorten it."
        )
    return None


def name_problem(value: str | None, max_length: int = NAME_MAX_LENGTH) -> str | None:
    """Say why a name must be typed again, or None when `clean_name` gives a usable one."""
    name = clean_name(value)
    if not name:
        return "The name is blank. Type a name."
    if len(name) > max_length:
        return (
            f"The name is {len(name):,} characters long; the limit is {max_length:,}. "
            "Please shorten it."
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in name):
        return "The name has no letters or digits. Type a name."
    return None


# Where one typed name ends and the next begins in a list of names ("A, B; C" or a line each).
_NAME_SEPARATORS = re.compile("[\n,;]")


def typed_names(text: str | None) -> list[str]:
    """Return the names in a typed list, in order, each once (case aside): split at line
    breaks, commas and semicolons, cleaned like a name, punctuation and spaces around it
    dropped ("  (Northside Food Bank.)" is "Northside Food Bank")."""
    names: dict[str, str] = {}
    for part in _NAME_SEPARATORS.split(clean_text(text)):
        name = clean_name(part)
        while name and not _is_letter_or_digit(name[0]):
            name = name[1:]
        while name and not _is_letter_or_digit(name[-1]):
            name = name[:-1]
        if name:
            names.setdefault(name.casefold(), name)
    return list(names.values())


def _is_letter_or_digit(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN"


def neutralise_formula(cell: str) -> str:
    """Return a CSV cell a spreadsheet will show as text, never run as a formula.

    A cell whose first character, or first after leading spaces, could start a formula
    (= + - @ tab CR LF, or a fullwidth or small form of = + - @) gets a leading single
    quote, as OWASP advises. A cell that is only a plain number (`-3.5`, `+2`, `-1,5`) is
    left as it is: sign, digits and decimal marks can form no formula, and a negative
    reading must stay a number for whoever opens the file.
    """
    first = cell.lstrip(" \u00a0")[:1]
    if first in _FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def neutralise_row(row: Iterable[object]) -> list[object]:
    """Neutralise every text cell of a row for csv.writer; other cells are left as they are.

    Numbers, dates and None start no formula when the csv module writes them with str().
    For csv.DictWriter, neutralise the values: dict(zip(row, neutralise_row(row.values()))).
    """
    return [neutralise_formula(cell) if isinstance(cell, str) else cell for cell in row]


def _clean(text: str) -> str:
    text = _SURROGATE_PAIR.sub(_join_surrogates, text)
    text = _LONE_SURROGATE.sub("", text)
    text = _LINE_BREAKS.sub("\n", text)
    text = _CONTROLS.sub("", text)
    text = _BIDI_CONTROLS.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _TAG_RUN.sub(_keep_flag_tags, text)
    text = _JOINERS.sub(_keep_joining, text)
    text = unicodedata.normalize("NFC", text)
    return _TRAILING_SPACE.sub("", text).strip()


def _join_surrogates(match: re.Match[str]) -> str:
    # A pair split into two code points (JSON "\ud83d\ude00", surrogatepass) is one character.
    high, low = (ord(ch) for ch in match.group())
    return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))


def _keep_flag_tags(match: re.Match[str]) -> str:
    start = match.start()
    after_flag = start > 0 and match.string[start - 1] == _BLACK_FLAG
    return match.group() if after_flag and _TAG_FLAG.fullmatch(match.group()) else ""


def _keep_joining(match: re.Match[str]) -> str:
    text, at = match.string, match.start()
    before = unicodedata.category(text[at - 1]) if at > 0 else ""
    after = unicodedata.category(text[at + 1]) if at + 1 < len(text) else ""
    # Letters and marks (Indic conjuncts, Persian ZWNJ) and emoji (So; skin tones are Sk,
    # VS16 is Mn) are what joiners join; next to anything else a joiner only hides.
    joins_before = before[:1] in ("L", "M") or before in ("So", "Sk")
    joins_after = after[:1] in ("L", "M") or after == "So"
    return match.group() if joins_before and joins_after else ""


def _cluster_cut(text: str, limit: int) -> int:
    """Return the largest index <= limit that does not fall inside a character cluster."""
    at = limit
    while at > 0 and not _cluster_boundary(text, at):
        at -= 1
    return at


def _cluster_boundary(text: str, at: int) -> bool:
    """Say whether text may be cut before text[at], after UAX #29's main rules.

    It errs towards keeping more together (any symbol after a ZWJ, as in an emoji sequence),
    which at worst cuts a little shorter.
    """
    before, ch = text[at - 1], text[at]
    if _extends(ch):
        return False
    if before == _ZWJ and unicodedata.category(ch) in ("So", "Sk"):
        return False
    if _is_regional_indicator(ch):
        run = 0
        while at - run - 1 >= 0 and _is_regional_indicator(text[at - run - 1]):
            run += 1
        return run % 2 == 0  # flags are pairs of indicators
    return not _hangul_joins(before, ch)


def _extends(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or ch in (_ZWJ, _ZWNJ)
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tags
        or code in (0xFF9E, 0xFF9F)  # halfwidth katakana sound marks
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _hangul_kind(ch: str) -> str:
    code = ord(ch)
    if 0x1100 <= code <= 0x115F or 0xA960 <= code <= 0xA97C:
        return "L"
    if 0x1160 <= code <= 0x11A7 or 0xD7B0 <= code <= 0xD7C6:
        return "V"
    if 0x11A8 <= code <= 0x11FF or 0xD7CB <= code <= 0xD7FB:
        return "T"
    if 0xAC00 <= code <= 0xD7A3:
        return "LV" if (code - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _hangul_joins(before: str, ch: str) -> bool:
    first, second = _hangul_kind(before), _hangul_kind(ch)
    if first == "L":
        return second in ("L", "V", "LV", "LVT")
    if first in ("LV", "V"):
        return second in ("V", "T")
    if first in ("LVT", "T"):
        return second == "T"
    return False


class UnreadableText(ValueError):
    """A file's bytes are not text we can read; `line` and `column` say where (1-based)."""

    def __init__(self, line: int, column: int, why: str) -> None:
        self.line, self.column, self.why = line, column, why
        super().__init__(f"line {line}, column {column}: {why}")


_BOMS = (("\ufeff".encode("utf-8"), "utf-8"), (b"\xff\xfe", "utf-16-le"),
         (b"\xfe\xff", "utf-16-be"))


def decode_file_text(data: bytes, what: str = "the file") -> str:
    """Read a file's bytes as UTF-8, or UTF-16 when a byte order mark says so (Excel's
    "Unicode text"); refuse anything else naming the line and column of the first bad byte.

    UTF-32 marks are not looked for: its little-endian mark starts like UTF-16's, and no
    spreadsheet or editor people use saves it by default.
    """
    excel = " (in Excel: \u201cCSV UTF-8\u201d)" if "CSV" in what else ""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            body = data[len(bom):]
            try:
                return body.decode(encoding)
            except UnicodeDecodeError as exc:
                raise _unreadable(body, exc.start, f"{encoding.upper()} text with a broken "
                                  f"character: save {what} as UTF-8") from exc
    head = data[:400]
    if len(head) >= 4 and (head[1::2].count(0) > len(head) // 4
                           or head[0::2].count(0) > len(head) // 4):
        raise UnreadableText(1, 1, f"{what} looks saved as UTF-16 without a byte order mark: "
                             f"save it as UTF-8{excel}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        byte = data[exc.start]
        guess = bytes([byte]).decode("cp1252", errors="replace")
        hint = f", which is \u201c{guess}\u201d in Windows-1252/Latin-1" if guess.isprintable() \
            and guess != "\ufffd" else ""
        raise _unreadable(data, exc.start, f"not UTF-8 text (byte 0x{byte:02X}{hint}): save "
                          f"{what} as UTF-8{excel} and try again") from exc


def _unreadable(data: bytes, offset: int, why: str) -> UnreadableText:
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", errors="replace")) + 1
    return UnreadableText(data.count(b"\n", 0, offset) + 1, column, why)


def first_nul(text: str) -> tuple[int, int] | None:
    """Return the (line, column) of the first NUL character in a text, or None."""
    at = text.find("\x00")
    if at < 0:
        return None
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
