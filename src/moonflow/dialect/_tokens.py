"""A Lua 5.4 tokenizer that keeps every token's offsets and line.

The eraser edits the source text by offset, so tokens carry ``start``/``end`` offsets into the
original string. Comments and whitespace are skipped. The tokenizer also accepts the few
characters the typed dialect adds (``!``, ``?``, ``@``, ``->``) as operators. A malformed token
(an unfinished string or long comment) ends the stream with an ``error`` token: the eraser then
leaves the file to Lua, which reports the error on its line.
"""

from __future__ import annotations

from typing import NamedTuple

KEYWORDS = frozenset(
    "and break do else elseif end false for function goto if in local nil not or repeat "
    "return then true until while".split()
)

# Longest first within each leading character.
_OPERATORS = (
    "...",
    "..",
    "::",
    "//",
    ">>",
    "<<",
    "~=",
    "==",
    "<=",
    ">=",
    "->",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "#",
    "&",
    "~",
    "|",
    "<",
    ">",
    "=",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ";",
    ":",
    ",",
    ".",
    "!",
    "?",
    "@",
)
_OPS_BY_CHAR: dict[str, tuple[str, ...]] = {}
for _op in _OPERATORS:
    _OPS_BY_CHAR.setdefault(_op[0], ())
    _OPS_BY_CHAR[_op[0]] += (_op,)

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_SPACE = frozenset(" \t\r\n\f\v")


class Token(NamedTuple):
    """One token: ``kind`` is ``name``, ``keyword``, ``number``, ``string``, ``op``, ``error``
    or ``eof``; ``value`` is the token's text (for strings: the raw source text)."""

    kind: str
    value: str
    start: int
    end: int
    line: int


def _long_bracket_level(src: str, i: int) -> int:
    """At ``src[i] == '['``: the level of a long bracket ``[==[`` starting there, or -1."""
    j = i + 1
    n = len(src)
    while j < n and src[j] == "=":
        j += 1
    if j < n and src[j] == "[":
        return j - i - 1
    return -1


def _skip_long(src: str, i: int, level: int) -> int:
    """Offset just past the long bracket opened at ``i``, or -1 when it is not closed."""
    close = "]" + "=" * level + "]"
    k = src.find(close, i + level + 2)
    return -1 if k < 0 else k + len(close)


def _skip_string(src: str, i: int) -> int:
    """Offset just past the quoted string starting at ``i``, or -1 when unfinished."""
    quote = src[i]
    n = len(src)
    j = i + 1
    while j < n:
        c = src[j]
        if c == quote:
            return j + 1
        if c == "\\":
            # An escape: skip the next character (\z, \x.., \u{..}, digits are harmless,
            # only an escaped quote or newline matters here).
            j += 3 if src.startswith("\r\n", j + 1) else 2
            continue
        if c == "\n":
            return -1
        j += 1
    return -1


def _skip_number(src: str, i: int) -> int:
    n = len(src)
    j = i
    if src.startswith(("0x", "0X"), i):
        j += 2
        digits, exp = _HEX, "pP"
    else:
        digits, exp = _DIGITS, "eE"
    while j < n:
        c = src[j]
        if c in digits or c == ".":
            j += 1
        elif c in exp:
            j += 1
            if j < n and src[j] in "+-":
                j += 1
        elif c in _NAME_CHARS:
            # Malformed number: Lua reports it; keep the characters in one token.
            j += 1
        else:
            break
    return j


def tokenize(src: str) -> list[Token]:
    """Split ``src`` into tokens (comments and blanks dropped), ending with an ``eof`` token."""
    out: list[Token] = []
    append = out.append
    n = len(src)
    i = 0
    line = 1
    if src.startswith("#"):  # shebang line
        k = src.find("\n")
        i = n if k < 0 else k
    while i < n:
        c = src[i]
        if c in _SPACE:
            if c == "\n":
                line += 1
            i += 1
            continue
        if c == "-" and src.startswith("--", i):
            if i + 2 < n and src[i + 2] == "[":
                level = _long_bracket_level(src, i + 2)
                if level >= 0:
                    k = _skip_long(src, i + 2, level)
                    if k < 0:
                        append(Token("error", "unfinished long comment", i, n, line))
                        break
                    line += src.count("\n", i, k)
                    i = k
                    continue
            k = src.find("\n", i)
            i = n if k < 0 else k
            continue
        start = i
        if c in _NAME_START:
            j = i + 1
            while j < n and src[j] in _NAME_CHARS:
                j += 1
            word = src[i:j]
            append(Token("keyword" if word in KEYWORDS else "name", word, i, j, line))
            i = j
            continue
        if c in _DIGITS or (c == "." and i + 1 < n and src[i + 1] in _DIGITS):
            j = _skip_number(src, i)
            append(Token("number", src[i:j], i, j, line))
            i = j
            continue
        if c == '"' or c == "'":
            j = _skip_string(src, i)
            if j < 0:
                append(Token("error", "unfinished string", i, n, line))
                break
            append(Token("string", src[i:j], i, j, line))
            line += src.count("\n", i, j)
            i = j
            continue
        if c == "[":
            level = _long_bracket_level(src, i)
            if level >= 0:
                j = _skip_long(src, i, level)
                if j < 0:
                    append(Token("error", "unfinished long string", i, n, line))
                    break
                append(Token("string", src[i:j], i, j, line))
                line += src.count("\n", i, j)
                i = j
                continue
        for op in _OPS_BY_CHAR.get(c, ()):
            if src.startswith(op, i):
                append(Token("op", op, start, start + len(op), line))
                i = start + len(op)
                break
        else:
            append(Token("error", f"unexpected symbol {c!r}", i, i + 1, line))
            break
    append(Token("eof", "<eof>", n, n, line))
    return out


_CALL_ARG_START = frozenset(("(", "{"))


def has_annotation_site(tokens: list[Token]) -> bool:
    """Cheap pre-check: False when no token can start an annotation, so the file is plain Lua.

    A site is a token Lua does not have (``!``, ``?``, ``@``, ``->``), ``::``, a name ``as``,
    ``type``, ``interface`` or ``export`` followed by a name (not ``type(x)``), a ``:`` that
    is not a method call (``: name (``) or follows ``)``, or a ``<`` right after ``function``
    or a function's name.
    """
    in_function_name = False
    last = len(tokens) - 1
    for idx, tok in enumerate(tokens):
        kind, value = tok.kind, tok.value
        if kind == "name":
            if value == "as":
                return True
            if value in ("type", "interface", "export") and tokens[idx + 1].kind == "name":
                return True
            continue
        if kind == "keyword":
            if value == "function":
                in_function_name = True
            continue
        if kind != "op":
            continue
        if value == "(":
            in_function_name = False
        elif value in ("!", "?", "@", "->", "::"):
            return True
        elif value == "<":
            if in_function_name:
                return True
        elif value == ":":
            if idx + 2 > last:
                return True
            nxt, after = tokens[idx + 1], tokens[idx + 2]
            if nxt.kind != "name":
                return True
            if not (
                after.kind == "string" or (after.kind == "op" and after.value in _CALL_ARG_START)
            ):
                return True
            if idx >= 2 and tokens[idx - 2].value == "local":
                return True
            if idx >= 1 and tokens[idx - 1].value == ")":  # a return type, or (expr):m()
                return True
    return False
