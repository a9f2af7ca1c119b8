"""Erase the typed dialect's annotations from a Lua file, line for line.

A recursive-descent pass walks the token stream with Lua's grammar, so it knows where a type
may occur (after a declared name, a parameter, a function's parameter list, inside ``<...>``
after a function name, after ``as``/``::``) and skips the type there with the type-expression
skipper of ``_types.py``. Erased text becomes spaces (newlines stay), so every line keeps its
number. Casts (``e as T``, ``e :: T``, ``e!``) become ``(e)``: one value, as in the reference
runtime.

Edits are collected as ``(start, end, replacement)`` on the original text and applied once at
the end. A file with no annotation site is returned as is (the same object).
"""

from __future__ import annotations

from moonflow.errors import MoonflowError

from ._tokens import has_annotation_site, tokenize
from ._types import Syntax, TypeSkipper


class DialectError(MoonflowError, ValueError):
    """A syntax error in annotated Lua; ``str()`` is one line, ``file.lua:LINE: what``.

    Attributes: ``file`` (the chunk name without ``=``/``@``), ``line`` (1-based) and ``what``.
    """

    def __init__(self, file: str, line: int, what: str) -> None:
        self.file = file
        self.line = line
        self.what = what
        super().__init__(f"{file}:{line}: {what}")


_UNARY = frozenset(("not", "-", "#", "~"))
_BINARY = frozenset(
    (
        "+",
        "-",
        "*",
        "/",
        "//",
        "%",
        "^",
        "..",
        "==",
        "~=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "&",
        "|",
        "~",
        "<<",
        ">>",
    )
)
_BLOCK_END = frozenset(("end", "else", "elseif", "until", "<eof>"))
# Tokens after ``as`` that show ``as`` is an ordinary name (``as = 1``, ``as.x``), not a cast.
_NOT_AFTER_AS = frozenset(("=", ".", "[", ":", ",", ")", "]", "}", ";", "==", "~="))


class _Eraser(TypeSkipper):
    """Lua's statement and expression grammar, erasing annotations where they may occur."""

    # -- statements ----------------------------------------------------------------------

    def chunk(self) -> None:
        self.block()
        if self.tok.kind != "eof":
            raise Syntax(self.tok, "'<eof>' expected")

    def block(self) -> None:
        while True:
            t = self.tok
            if t.kind == "error":
                raise Syntax(t, t.value)
            if t.kind == "eof" or (t.kind == "keyword" and t.value in _BLOCK_END):
                return
            if t.kind == "keyword" and t.value == "return":
                self.next()
                nxt = self.tok
                ends = nxt.kind == "eof" or (nxt.kind == "keyword" and nxt.value in _BLOCK_END)
                if not ends and not self.at(";"):
                    self.exprlist()
                self.accept(";")
                continue
            self.statement()

    def statement(self) -> None:
        t = self.tok
        if t.kind == "op":
            if t.value == ";":
                self.next()
                return
            if t.value == "::":
                self.next()
                self.expect_name()
                self.expect("::")
                return
        if t.kind == "keyword":
            v = t.value
            if v == "if":
                self.next()
                self.expr()
                self.expect("then")
                self.block()
                while self.at("elseif"):
                    self.next()
                    self.expr()
                    self.expect("then")
                    self.block()
                if self.accept("else"):
                    self.block()
                self.expect("end")
                return
            if v == "while":
                self.next()
                self.expr()
                self.expect("do")
                self.block()
                self.expect("end")
                return
            if v == "do":
                self.next()
                self.block()
                self.expect("end")
                return
            if v == "for":
                self.for_stat()
                return
            if v == "repeat":
                self.next()
                self.block()
                self.expect("until")
                self.expr()
                return
            if v == "function":
                self.next()
                self.expect_name()
                while self.at(".") or self.at(":"):
                    self.next()
                    self.expect_name()
                self.erase_generic_params()
                self.funcbody()
                return
            if v == "local":
                self.local_stat()
                return
            if v == "break":
                self.next()
                return
            if v == "goto":
                self.next()
                self.expect_name()
                return
        if t.kind == "name" and self.dialect_statement():
            return
        self.expr_stat()

    def dialect_statement(self) -> bool:
        """``type Name<...> = T``, ``interface Name ... end``, with an optional ``export``."""
        t = self.tok
        k = 1 if t.value == "export" else 0
        word = self.peek(k)
        if word.kind != "name" or self.peek(k + 1).kind != "name":
            return False
        if word.value == "type":
            after = self.peek(k + 2)
            if not (after.value == "=" or after.value == "<") or after.kind != "op":
                return False
            start = t.start
            self.pos += k + 2
            self.skip_generic_params_opt()
            self.expect("=")
            self.skip_type()
            self.blank_from(start)
            return True
        if word.value == "interface":
            start = t.start
            self.pos += k + 2
            self.interface_body()
            self.blank_from(start)
            return True
        return False

    def interface_body(self) -> None:
        self.skip_generic_params_opt()
        if self.at(":") or self.at_name("extends"):
            self.next()
            self.skip_type()
            while self.accept(","):
                self.skip_type()
        if self.at("{"):
            self.skip_table_type()
            return
        while not self.at("end") or self.peek().value in (":", "?"):
            if self.tok.kind == "eof":
                raise Syntax(self.tok, "'end' expected to close the interface")
            if self.at("function"):
                self.next()
                self.expect_name()
                while self.at(".") or self.at(":"):
                    self.next()
                    self.expect_name()
                self.skip_generic_params_opt()
                self.skip_paren_type()
                if self.at(":"):
                    self.next()
                    self.skip_type()
                    while self.accept(","):
                        self.skip_type()
            elif self.at("["):
                self.next()
                self.skip_type()
                self.expect("]")
                self.expect(":")
                self.skip_type()
            else:
                if self.at_name("readonly") and self.peek().kind in ("name", "keyword"):
                    if self.peek(2).value in (":", "?"):
                        self.next()
                if self.tok.kind not in ("name", "keyword"):
                    raise Syntax(self.tok, "interface member expected")
                self.next()
                self.accept("?")
                self.expect(":", "':' expected after an interface field")
                self.skip_type()
            if not self.accept(","):
                self.accept(";")
        self.next()

    def for_stat(self) -> None:
        self.next()
        self.expect_name()
        if self.at(":"):
            self.erase_annotation()
        if self.accept("="):
            self.expr()
            self.expect(",")
            self.expr()
            if self.accept(","):
                self.expr()
        else:
            while self.accept(","):
                self.expect_name()
                if self.at(":"):
                    self.erase_annotation()
            self.expect("in", "'=' or 'in' expected")
            self.exprlist()
        self.expect("do")
        self.block()
        self.expect("end")

    def local_stat(self) -> None:
        self.next()
        if self.accept("function"):
            self.expect_name()
            self.erase_generic_params()
            self.funcbody()
            return
        while True:
            self.expect_name()
            if self.at("<") and self.peek().kind == "name" and self.peek(2).value == ">":
                self.next()
                self.next()
                self.next()
            if self.at(":"):
                self.erase_annotation()
            if not self.accept(","):
                break
        if self.accept("="):
            self.exprlist()

    def expr_stat(self) -> None:
        self.suffixedexp()
        if self.at("=") or self.at(","):
            while self.accept(","):
                self.suffixedexp()
            self.expect("=")
            self.exprlist()

    def funcbody(self) -> None:
        self.expect("(", "'(' expected")
        while not self.at(")"):
            if self.accept("..."):
                if self.at(":"):
                    self.erase_annotation()
                break
            self.expect_name()
            if self.at("?"):
                start = self.tok.start
                self.next()
                self.blank_from(start)
            if self.at(":"):
                self.erase_annotation()
            if not self.accept(","):
                break
        self.expect(")")
        self.erase_return_type()
        self.block()
        self.expect("end", "'end' expected")

    # -- expressions ---------------------------------------------------------------------

    def exprlist(self) -> None:
        self.expr()
        while self.accept(","):
            self.expr()

    def expr(self) -> None:
        self.subexpr()
        while True:
            t = self.tok
            if t.kind in ("op", "keyword") and t.value in _BINARY:
                self.next()
                self.subexpr()
            else:
                return

    def subexpr(self) -> None:
        t = self.tok
        if t.kind in ("op", "keyword") and t.value in _UNARY:
            self.next()
            self.subexpr()
            return
        start = t.start
        self.simpleexp()
        self.casts(start)

    def casts(self, start: int) -> None:
        while True:
            t = self.tok
            if t.kind == "name" and t.value == "as":
                nxt = self.peek()
                if nxt.kind == "eof" or nxt.value in _NOT_AFTER_AS:
                    return
                if nxt.kind == "keyword" and nxt.value not in ("nil", "true", "false", "function"):
                    return
                call_args = nxt.kind == "string" or nxt.value in ("(", "{")
                if call_args and t.line != self.toks[self.pos - 1].line:
                    return  # ``as (x)``, ``as "s"``, ``as {...}`` starting a line: a call
                marker = self.next()
                type_start = self.tok.start
                self.skip_type()
                self.wrap(start, marker)
                self.blank_from(type_start)
            elif self.at("!") and not self.adjacent_eq():
                self.wrap(start, self.next())
            elif self.at("::") and not self.label_ahead():
                marker = self.next()
                type_start = self.tok.start
                self.skip_type()
                self.wrap(start, marker)
                self.blank_from(type_start)
            else:
                return

    def adjacent_eq(self) -> bool:
        """At ``!``: True for ``!=`` (not Lua: left for Lua to report)."""
        nxt = self.peek()
        return nxt.value == "=" and nxt.start == self.tok.end

    def label_ahead(self) -> bool:
        """At ``::``: True when it opens a label ``::name::`` or explicit type arguments."""
        nxt = self.peek()
        close = self.peek(2)
        if nxt.kind == "name" and close.value == "::" and close.line == self.tok.line:
            return True
        return nxt.value == "<" and nxt.kind == "op"

    def simpleexp(self) -> None:
        t = self.tok
        if t.kind in ("number", "string"):
            self.next()
            return
        if t.kind == "keyword" and t.value in ("nil", "true", "false"):
            self.next()
            return
        if self.at("..."):
            self.next()
            return
        if self.at("{"):
            self.table()
            return
        if self.at("function"):
            self.next()
            self.erase_generic_params()
            self.funcbody()
            return
        self.suffixedexp()

    def suffixedexp(self) -> None:
        t = self.tok
        start = t.start
        if t.kind == "name":
            self.next()
        elif self.at("("):
            self.next()
            self.expr()
            self.expect(")")
        else:
            raise Syntax(t, "unexpected symbol")
        while True:
            t = self.tok
            if t.kind != "op" and t.kind != "string":
                return
            v = t.value
            if t.kind == "string":
                self.next()
            elif v == ".":
                self.next()
                self.expect_name()
            elif v == "[":
                self.next()
                self.expr()
                self.expect("]")
            elif v == ":" and self.peek().kind == "name":
                self.next()
                self.next()
                self.call_args()
            elif v == "(" or v == "{":
                self.call_args()
            elif v == "!" and not self.adjacent_eq():
                self.next()
                self.wrap(start, t)
            elif v == "::" and self.peek().value == "<":
                self.next()
                self.skip_generic_args()
                self.blank_from(t.start)
            else:
                return

    def call_args(self) -> None:
        t = self.tok
        if t.kind == "string":
            self.next()
        elif self.at("{"):
            self.table()
        elif self.at("("):
            self.next()
            if not self.at(")"):
                self.exprlist()
            self.expect(")")
        else:
            raise Syntax(t, "function arguments expected")

    def table(self) -> None:
        self.expect("{")
        while not self.at("}"):
            if self.at("["):
                self.next()
                self.expr()
                self.expect("]")
                self.expect("=")
                self.expr()
            elif self.tok.kind == "name" and self.peek().value == "=" and self.peek().kind == "op":
                self.next()
                self.next()
                self.expr()
            else:
                self.expr()
            if not (self.accept(",") or self.accept(";")):
                break
        self.expect("}", "'}' expected")


def _apply(src: str, edits: list[tuple[int, int, str]]) -> str:
    edits.sort(key=lambda e: (e[0], e[1]))
    out: list[str] = []
    pos = 0
    for start, end, text in edits:
        if start < pos:  # overlapping edit (cannot happen for well-formed input): skip it
            continue
        out.append(src[pos:start])
        out.append(text)
        pos = end
    out.append(src[pos:])
    return "".join(out)


def _where(chunk_name: str) -> str:
    return chunk_name[1:] if chunk_name[:1] in ("=", "@") else chunk_name


def erase(source: str, chunk_name: str, *, force: bool = False) -> str:
    """Erase the typed dialect's annotations from one Lua file.

    Args:
        source: the file's text.
        chunk_name: the name errors use (``file.lua``; a leading ``=`` or ``@`` is dropped).
        force: parse even when the cheap pre-check finds no annotation site (tests use it).

    Returns:
        Lua 5.4 source with every line on its original line: erased text is blanked, casts
        become ``(expr)``. A file without annotations is returned unchanged (the same object).

    Raises:
        DialectError: a syntax error in annotated code, ``file.lua:LINE: what``. A file in
        which nothing was erased before the error goes to Lua unchanged instead, and Lua
        reports its own error on the right line.
    """
    src = source
    tokens = tokenize(src)
    if not force and not has_annotation_site(tokens):
        return src
    eraser = _Eraser(src, tokens)
    try:
        eraser.chunk()
    except Syntax as exc:
        if not eraser.edits:
            # Nothing erased before the error: plain Lua (or a plain syntax error) - Lua
            # reports it itself, on its line.
            return src
        tok = exc.tok
        near = "" if tok.kind == "eof" else f" near '{tok.value[:20]}'"
        raise DialectError(_where(chunk_name), tok.line, f"{exc.what}{near}") from None
    if not eraser.edits:
        return src
    return _apply(src, eraser.edits)
