"""What user text may hold (docs/design.md, guarantee 10): one rule for the domain, the event, the
HTTP schemas, the logs and the operators' tools. Pure: no framework, importable by any layer.
"""

from __future__ import annotations

import re
from typing import Final

MAX_CUSTOMER_NAME_LENGTH: Final = 200  # code points, after trimming
MAX_CUSTOMER_ID_LENGTH: Final = 255  # a token's `sub`, stored with the order

# Inclusive code point ranges. C0 controls (tab, newline, CR and ESC among them), DEL, C1
# controls and the Unicode line and paragraph separators: every character a terminal acts on
# or a line reader (Python's `splitlines` among them) splits at, so each could break a log line,
# a terminal or a message apart. None belongs in user text, which is data.
_LINE_BREAKING: Final = ((0x00, 0x1F), (0x7F, 0x9F), (0x2028, 0x2029))
# Lone UTF-16 surrogates (valid as a JSON escape, "\ud800"): no UTF-8 encoder takes them, so
# text holding one could be neither stored, published nor logged.
_SURROGATES: Final = ((0xD800, 0xDFFF),)


def _class_body(ranges: tuple[tuple[int, int], ...]) -> str:
    """The inside of a regex character class, as `\\uXXXX` escapes that Python's `re` and
    ECMA-262 (JSON Schema's dialect) read alike."""
    parts = []
    for low, high in ranges:
        if high - low > 1:
            parts.append(f"\\u{low:04x}-\\u{high:04x}")
        else:  # one or two characters: listed, as people write them (`\\u2028\\u2029`)
            parts.extend(f"\\u{point:04x}" for point in range(low, high + 1))
    return "".join(parts)


CONTROL_CHARACTERS: Final = re.compile(f"[{_class_body(_LINE_BREAKING + _SURROGATES)}]")


def first_control_character(text: str) -> str | None:
    """The first character of `text` that user text must not hold, or None."""
    found = CONTROL_CHARACTERS.search(text)
    return None if found is None else found.group()


def code_point(character: str) -> str:
    """`U+000A`: how an error names a character without quoting it."""
    return f"U+{ord(character):04X}"


# JSON Schema patterns (ECMA-262) of the same rule, for the published schemas. Without the
# surrogates: an ECMA-262 pattern without the `u` flag sees UTF-16 code units, so a surrogate
# class would refuse every emoji; the validators behind the schemas refuse lone ones anyway.
_SCHEMA_CLASS: Final = _class_body(_LINE_BREAKING)
TEXT_PATTERN: Final = f"^[^{_SCHEMA_CLASS}]*$"
# At least one character that trimming keeps (not white space), none of the refused ones.
TRIMMED_TEXT_PATTERN: Final = f"^[^{_SCHEMA_CLASS}]*[^\\s{_SCHEMA_CLASS}][^{_SCHEMA_CLASS}]*$"
