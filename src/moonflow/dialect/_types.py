"""The token cursor and the type-expression skipper of the dialect eraser.

:class:`TypeSkipper` walks the token list and records edits; it knows every type form of
lua-dialect.md §3 and skips one type from the cursor. The statement and expression grammar that
decides *where* a type may occur lives in ``_erase.py``.
"""

from __future__ import annotations

from ._tokens import Token


class Syntax(Exception):
    """A syntax error at ``tok``; the eraser turns it into a ``DialectError``."""

    def __init__(self, tok: Token, what: str) -> None:
        super().__init__(what)
        self.tok = tok
        self.what = what


def _blank(text: str) -> str:
    return "".join(c if c == "\n" else " " for c in text)


class TypeSkipper:
    """A cursor over the tokens of ``src`` collecting ``(start, end, replacement)`` edits."""

    def __init__(self, src: str, tokens: list[Token]) -> None:
        self.src = src
        self.toks = tokens
        self.pos = 0
        self.edits: list[tuple[int, int, str]] = []

    # -- token helpers -------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.toks[self.pos]

    def peek(self, k: int = 1) -> Token:
        i = self.pos + k
        return self.toks[i] if i < len(self.toks) else self.toks[-1]

    def at(self, value: str) -> bool:
        t = self.toks[self.pos]
        return t.value == value and t.kind in ("op", "keyword")

    def at_name(self, value: str | None = None) -> bool:
        t = self.toks[self.pos]
        return t.kind == "name" and (value is None or t.value == value)

    def next(self) -> Token:
        t = self.toks[self.pos]
        if t.kind == "error":
            raise Syntax(t, t.value)
        if t.kind != "eof":
            self.pos += 1
        return t

    def accept(self, value: str) -> bool:
        if self.at(value):
            self.pos += 1
            return True
        return False

    def expect(self, value: str, what: str | None = None) -> Token:
        if not self.at(value):
            raise Syntax(self.tok, what or f"'{value}' expected")
        return self.next()

    def expect_name(self) -> Token:
        if self.tok.kind != "name":
            raise Syntax(self.tok, "<name> expected")
        return self.next()

    def split_op(self) -> None:
        """Split ``>>`` or ``>=`` at the cursor into ``>`` and the rest (closing generics)."""
        t = self.tok
        first = Token("op", ">", t.start, t.start + 1, t.line)
        rest = Token("op", t.value[1:], t.start + 1, t.end, t.line)
        self.toks[self.pos : self.pos + 1] = [first, rest]

    # -- edits ---------------------------------------------------------------------------

    def blank_from(self, start: int) -> None:
        """Blank the source from ``start`` to the end of the previous token."""
        end = self.toks[self.pos - 1].end
        if end > start:
            self.edits.append((start, end, _blank(self.src[start:end])))

    def wrap(self, expr_start: int, marker: Token) -> None:
        """``expr <marker> ...`` -> ``(expr) ...``: open before the expression, close on the
        marker's first character."""
        self.edits.append((expr_start, expr_start, "("))
        self.edits.append((marker.start, marker.start + 1, ")"))
        if marker.end > marker.start + 1:
            self.edits.append((marker.start + 1, marker.end, " " * (marker.end - marker.start - 1)))

    # -- type expressions ----------------------------------------------------------------

    def type_name_ok(self) -> bool:
        t = self.tok
        return t.kind == "name" or (t.kind == "keyword" and t.value in ("nil", "true", "false"))

    def skip_type(self) -> None:
        """Skip one type: unions/intersections of postfix types, a conditional type."""
        if self.at("|") or self.at("&"):
            self.next()
        self.skip_postfix_type()
        while self.at("|") or self.at("&"):
            self.next()
            self.skip_postfix_type()
        if self.at_name("extends") and self.tok.line == self.toks[self.pos - 1].line:
            self.next()
            self.skip_postfix_type(optional=False)
            while self.at("|") or self.at("&"):
                self.next()
                self.skip_postfix_type(optional=False)
            self.expect("?", "'?' expected in conditional type")
            self.skip_type()
            self.expect(":", "':' expected in conditional type")
            self.skip_type()

    def skip_postfix_type(self, optional: bool = True) -> None:
        self.skip_primary_type()
        while True:
            prev_line = self.toks[self.pos - 1].line
            if optional and self.at("?") and self.tok.line == prev_line:
                self.next()
            elif self.at("[") and self.tok.line == prev_line:
                self.next()
                if not self.accept("]"):
                    self.skip_type()
                    self.expect("]")
            elif self.at("@") and self.peek().kind == "name":
                self.next()
                self.next()
                if self.at("(") and self.tok.line == self.toks[self.pos - 1].line:
                    self.skip_balanced()
            else:
                return

    def skip_balanced(self) -> None:
        """Skip a parenthesised Lua expression list, ``(`` to its matching ``)``."""
        depth = 0
        while True:
            t = self.next()
            if t.kind == "eof":
                raise Syntax(t, "')' expected")
            if t.kind == "op":
                if t.value in ("(", "[", "{"):
                    depth += 1
                elif t.value in (")", "]", "}"):
                    depth -= 1
                    if depth == 0:
                        return

    def skip_generic_args(self) -> None:
        """``<T, U>`` after a type name (the cursor is on ``<``)."""
        self.expect("<")
        if self.at(">>") or self.at(">="):
            self.split_op()
        if self.accept(">"):
            return
        while True:
            self.skip_type_list_item()
            if self.at(">>") or self.at(">="):
                self.split_op()
            if self.accept(">"):
                return
            self.expect(",", "'>' expected to close type arguments")

    def skip_type_list_item(self) -> None:
        if self.accept("..."):
            if not (self.at(")") or self.at(",") or self.at(">")):
                self.skip_type()
            return
        self.skip_type()
        self.accept("...")

    def skip_primary_type(self) -> None:
        t = self.tok
        if t.kind in ("string", "number"):
            self.next()
            return
        if self.at("-") and self.peek().kind == "number":
            self.next()
            self.next()
            return
        if self.at("{"):
            self.skip_table_type()
            return
        if self.at("("):
            self.skip_paren_type()
            return
        if self.at("<"):
            self.skip_generic_params()
            self.skip_paren_type()
            return
        if self.at("..."):
            self.next()
            self.skip_postfix_type()
            return
        if self.at("function"):
            self.next()
            self.skip_fun_type()
            return
        if not self.type_name_ok():
            raise Syntax(t, "type expected")
        name = self.next().value
        if name == "typeof" and self.at("("):
            self.skip_balanced()
            return
        if name == "keyof" and self.at("("):
            self.next()
            self.skip_type()
            self.expect(")")
            return
        if name in ("readonly", "keyof") and (self.at("{") or self.type_name_ok()):
            self.skip_primary_type()
            return
        if name == "interface" and self.at("{"):
            self.skip_table_type()
            return
        if name == "fun" and self.at("("):
            self.skip_fun_type()
            return
        if name == "asserts" and self.tok.kind == "name":
            self.next()
            if self.at_name("is"):
                self.next()
                self.skip_type()
            return
        if self.at_name("is") and t.kind == "name" and self.tok.line == t.line:
            self.next()
            self.skip_type()
            return
        # A qualified name and its type arguments stay on one line: ``local x: T`` followed by
        # ``T.y = 1`` on the next line is a new statement.
        while self.at(".") and self.peek().kind == "name" and self.tok.line == t.line:
            self.next()
            self.next()
        if self.at("<") and self.tok.line == t.line:
            self.skip_generic_args()

    def skip_fun_type(self) -> None:
        """``fun(a: A, ...): R`` after ``fun``: parameters and an optional return type."""
        self.skip_generic_params_opt()
        self.skip_paren_type()
        if self.at(":"):
            self.next()
            self.skip_type()

    def skip_paren_type(self) -> None:
        """``( items )`` optionally followed by ``-> R``: a function type, a type pack or a
        parenthesised type. Items are ``name: T``, ``name?: T``, ``...T``, ``...: T`` or ``T``."""
        self.expect("(")
        while not self.at(")"):
            if (self.tok.kind == "name" or self.at("...")) and (
                self.peek().value == ":" or (self.peek().value == "?" and self.peek(2).value == ":")
            ):
                self.next()
                self.accept("?")
                self.expect(":")
                self.skip_type()
            else:
                self.skip_type_list_item()
            if not self.accept(","):
                break
        self.expect(")", "')' expected in type")
        if self.at("->"):
            self.next()
            self.skip_type()

    def skip_table_type(self) -> None:
        self.expect("{")
        while not self.at("}"):
            if self.at("["):
                self.next()
                self.skip_type()
                self.expect("]")
                self.expect(":", "':' expected after '[key]' in table type")
                self.skip_type()
            else:
                t = self.tok
                if (
                    t.kind == "name"
                    and t.value == "readonly"
                    and self.peek().kind in ("name", "keyword")
                ):
                    if self.peek(2).value in (":", "?"):
                        self.next()
                        t = self.tok
                p1, p2 = self.peek(), self.peek(2)
                is_field = t.kind in ("name", "keyword") and (
                    p1.value == ":" or (p1.value == "?" and p2.value == ":")
                )
                if is_field:
                    self.next()
                    self.accept("?")
                    self.expect(":")
                    self.skip_type()
                elif self.at("function") and self.peek().kind == "name":
                    self.next()
                    self.next()
                    self.skip_fun_type()
                else:
                    self.skip_type()
            if not (self.accept(",") or self.accept(";")):
                break
        self.expect("}", "'}' expected in table type")

    def skip_generic_params(self) -> None:
        """``<T, U: Bound, V = Default, R...>`` (cursor on ``<``)."""
        self.expect("<")
        while not self.at(">"):
            self.accept("...")
            self.expect_name()
            self.accept("...")
            if self.accept(":") or (self.at_name("extends") and self.next()):
                self.skip_type()
            if self.accept("="):
                self.skip_type()
            if self.at(">>") or self.at(">="):
                self.split_op()
            if not self.accept(","):
                break
        self.expect(">", "'>' expected to close generic parameters")

    def skip_generic_params_opt(self) -> None:
        if self.at("<"):
            self.skip_generic_params()

    def erase_generic_params(self) -> None:
        if self.at("<"):
            start = self.tok.start
            self.skip_generic_params()
            self.blank_from(start)

    def erase_annotation(self) -> None:
        """At ``:`` after a declared name: blank ``: T``."""
        start = self.tok.start
        self.next()
        self.skip_type()
        self.blank_from(start)

    def erase_return_type(self) -> None:
        """After a parameter list: ``: T``, ``: (A, B)``, ``: A, B``, ``: ()``."""
        if not self.at(":"):
            return
        start = self.tok.start
        self.next()
        self.skip_type()
        while self.at(","):
            self.next()
            self.skip_type()
        self.blank_from(start)
