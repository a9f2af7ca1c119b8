"""A Lua 5.4 tokenizer (lexer) for the static determinism pass.

It follows the reference lexer (``llex.c``) closely enough that text inside strings and comments
never becomes a token: short strings with every escape (``\\z``, ``\\x..``, ``\\u{...}``,
``\\ddd``, a backslash-newline), long strings and long comments of any level
(``[==[ ... ]==]``), numbers (decimal and hexadecimal, with fractions and exponents), names,
keywords and every operator. Line numbers count ``\\n``, ``\\r``, ``\\r\\n`` and ``\\n\\r`` as
one line break each, as Lua does, so findings point at the line Lua itself would report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    {
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    }
)

# Longest first within each leading character.
_OPERATORS = (
    "...",
    "..",
    "==",
    "~=",
    "<=",
    ">=",
    "<<",
    ">>",
    "//",
    "::",
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
)

NAME = "name"
KEYWORD = "keyword"
STRING = "string"
NUMBER = "number"
OP = "op"
EOF = "eof"

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_SPACE = frozenset(" \t\f\v")
_NUMERAL = re.compile(
    r"0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


class LexError(ValueError):
    """The source is not valid Lua at the token level.

    Attributes:
        line: 1-based line where the bad token starts.
    """

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Token:
    """One token.

    Attributes:
        kind: ``name``, ``keyword``, ``string``, ``number``, ``op`` or ``eof``.
        value: the name, keyword or operator text; a string's decoded contents; a number's
            source text.
        line: 1-based line of the token's first character.
    """

    kind: str
    value: str
    line: int

    def is_op(self, text: str) -> bool:
        """True for the operator ``text``."""
        return self.kind == OP and self.value == text

    def is_kw(self, text: str) -> bool:
        """True for the keyword ``text``."""
        return self.kind == KEYWORD and self.value == text


class _Lexer:
    def __init__(self, src: str) -> None:
        self.src = src
        self.n = len(src)
        self.pos = 0
        self.line = 1

    def peek(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.src[i] if i < self.n else ""

    def newline(self) -> None:
        # \n, \r, \n\r or \r\n: one line break.
        first = self.src[self.pos]
        self.pos += 1
        nxt = self.peek()
        if nxt in "\r\n" and nxt and nxt != first:
            self.pos += 1
        self.line += 1

    def tokens(self) -> list[Token]:
        out: list[Token] = []
        while True:
            tok = self.next_token()
            out.append(tok)
            if tok.kind == EOF:
                return out

    def next_token(self) -> Token:
        src = self.src
        while self.pos < self.n:
            c = src[self.pos]
            if c in "\r\n":
                self.newline()
            elif c in _SPACE:
                self.pos += 1
            elif c == "-" and self.peek(1) == "-":
                self.comment()
            else:
                break
        if self.pos >= self.n:
            return Token(EOF, "", self.line)
        c = src[self.pos]
        line = self.line
        if c in _NAME_START:
            start = self.pos
            while self.pos < self.n and src[self.pos] in _NAME_CHARS:
                self.pos += 1
            word = src[start : self.pos]
            return Token(KEYWORD if word in KEYWORDS else NAME, word, line)
        if c in _DIGITS or (c == "." and self.peek(1) in _DIGITS and self.peek(1)):
            return Token(NUMBER, self.number(), line)
        if c in "\"'":
            return Token(STRING, self.short_string(c), line)
        if c == "[":
            level = self.long_bracket_level()
            if level >= 0:
                return Token(STRING, self.long_bracket(level, "string"), line)
        for op in _OPERATORS:
            if src.startswith(op, self.pos):
                self.pos += len(op)
                return Token(OP, op, line)
        raise LexError(f"unexpected symbol {c!r}", line)

    # ---- comments and long brackets ----------------------------------------------------
    def comment(self) -> None:
        self.pos += 2
        if self.peek() == "[":
            level = self.long_bracket_level()
            if level >= 0:
                self.long_bracket(level, "comment")
                return
        while self.pos < self.n and self.src[self.pos] not in "\r\n":
            self.pos += 1

    def long_bracket_level(self) -> int:
        """At ``[``: the level of ``[==[`` (number of ``=``), or -1 if it is not one."""
        i = self.pos + 1
        while i < self.n and self.src[i] == "=":
            i += 1
        if i < self.n and self.src[i] == "[":
            return i - self.pos - 1
        return -1

    def long_bracket(self, level: int, what: str) -> str:
        start_line = self.line
        self.pos += level + 2
        if self.peek() in "\r\n" and self.peek():  # a first newline is skipped
            self.newline()
        close = "]" + "=" * level + "]"
        parts: list[str] = []
        while True:
            if self.pos >= self.n:
                raise LexError(f"unfinished long {what} (starting at line {start_line})", self.line)
            c = self.src[self.pos]
            if c == "]" and self.src.startswith(close, self.pos):
                self.pos += len(close)
                return "".join(parts)
            if c in "\r\n":
                self.newline()
                parts.append("\n")
            else:
                parts.append(c)
                self.pos += 1

    # ---- strings and numbers -----------------------------------------------------------
    def short_string(self, quote: str) -> str:
        line = self.line
        self.pos += 1
        parts: list[str] = []
        while True:
            if self.pos >= self.n:
                raise LexError("unfinished string", line)
            c = self.src[self.pos]
            if c == quote:
                self.pos += 1
                return "".join(parts)
            if c in "\r\n":
                raise LexError("unfinished string", line)
            if c == "\\":
                parts.append(self.escape())
            else:
                parts.append(c)
                self.pos += 1

    def escape(self) -> str:
        self.pos += 1  # the backslash
        c = self.peek()
        if not c:
            raise LexError("unfinished string", self.line)
        if c in _SIMPLE_ESCAPES:
            self.pos += 1
            return _SIMPLE_ESCAPES[c]
        if c in "\\\"'":
            self.pos += 1
            return c
        if c in "\r\n":
            self.newline()
            return "\n"
        if c == "z":  # skip the following white space, line breaks included
            self.pos += 1
            while self.pos < self.n and (
                self.src[self.pos] in _SPACE or self.src[self.pos] in "\r\n"
            ):
                if self.src[self.pos] in "\r\n":
                    self.newline()
                else:
                    self.pos += 1
            return ""
        if c == "x":
            digits = self.src[self.pos + 1 : self.pos + 3]
            if len(digits) != 2 or any(d not in _HEX for d in digits):
                raise LexError("hexadecimal digit expected in escape", self.line)
            self.pos += 3
            return chr(int(digits, 16))
        if c == "u":
            if self.peek(1) != "{":
                raise LexError("missing '{' in \\u{xxxx}", self.line)
            end = self.src.find("}", self.pos + 2)
            digits = self.src[self.pos + 2 : end] if end >= 0 else ""
            if not digits or any(d not in _HEX for d in digits):
                raise LexError("hexadecimal digit expected in \\u{xxxx}", self.line)
            self.pos = end + 1
            value = int(digits, 16)
            if value >= 2**31:
                raise LexError("UTF-8 value too large", self.line)
            return chr(value) if value < 0x110000 else "\ufffd"
        if c in _DIGITS:
            start = self.pos
            while self.pos < self.n and self.pos - start < 3 and self.src[self.pos] in _DIGITS:
                self.pos += 1
            value = int(self.src[start : self.pos])
            if value > 255:
                raise LexError("decimal escape too large", self.line)
            return chr(value)
        raise LexError(f"invalid escape sequence '\\{c}'", self.line)

    def number(self) -> str:
        src = self.src
        start = self.pos
        exp = "Ee"
        if src.startswith(("0x", "0X"), self.pos):
            self.pos += 2
            exp = "Pp"
        while self.pos < self.n:
            c = src[self.pos]
            if c in exp and self.peek(1) in "+-" and self.peek(1):
                self.pos += 2
            elif c in _HEX or c == "." or c in exp:
                self.pos += 1
            else:
                break
        text = src[start : self.pos]
        if self.pos < self.n and src[self.pos] in _NAME_CHARS:
            text += src[self.pos]
        if not _NUMERAL.fullmatch(text):
            raise LexError(f"malformed number near {text!r}", self.line)
        return text


def tokenize(src: str) -> list[Token]:
    """All tokens of ``src``, ending with one ``eof`` token.

    Raises:
        LexError: unfinished string or long comment, bad escape, malformed number, stray
            character.
    """
    return _Lexer(src).tokens()
