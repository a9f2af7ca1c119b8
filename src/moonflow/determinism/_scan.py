"""A scope-aware walk over a Lua 5.4 chunk: which globals it reads, assigns and requires.

A small recursive-descent parser over the tokens of :mod:`._lexer` (the full Lua 5.4 statement
and expression grammar, no AST kept). It tracks ``local`` declarations, function parameters and
``for`` variables per block, so that a local named ``io`` or ``os`` shadows the global, and it
reports:

* every reference to a global name with its static field path (``io.open``, ``os["time"]``,
  ``_G.math.random`` -> ``math.random``), up to the first call or computed index;
* every assignment to a global name (``counter = counter + 1``, ``function main() end``);
* every ``require`` call, with its module name when it is a literal string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._lexer import EOF, KEYWORD, NAME, NUMBER, OP, STRING, Token, tokenize

_UNARY = frozenset({"-", "#", "~"})
_BINARY = frozenset(
    {"+", "-", "*", "/", "//", "%", "^", "..", "==", "~=", "<", "<=", ">", ">=", "&", "|", "~"}
    | {"<<", ">>"}
)
_BLOCK_END = frozenset({"else", "elseif", "end", "until"})
_ENV_NAMES = frozenset({"_G", "_ENV"})


class ParseError(ValueError):
    """The token stream is not a Lua chunk; ``line`` is where the parser gave up."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


@dataclass(frozen=True)
class GlobalRef:
    """A read of a global: ``path`` is the static field path, e.g. ``("io", "open")``.

    ``explicit`` is True when the code named the global table (``_G.x``, ``_ENV["x"]``): a
    deliberate dynamic lookup (or an assignment target), not a bare name that may be a typo.
    """

    path: tuple[str, ...]
    line: int
    explicit: bool = False


@dataclass(frozen=True)
class GlobalAssign:
    """An assignment to a global name; ``function`` for ``function name() ... end``."""

    name: str
    line: int
    function: bool = False


@dataclass(frozen=True)
class Require:
    """A ``require`` call; ``name`` is None when the argument is not a literal string."""

    name: str | None
    line: int


@dataclass
class ScanResult:
    """What :func:`scan` found, each list in source order."""

    refs: list[GlobalRef] = field(default_factory=list)
    assigns: list[GlobalAssign] = field(default_factory=list)
    requires: list[Require] = field(default_factory=list)
    #: every name declared local anywhere in the chunk (parameters, for variables included)
    locals: set[str] = field(default_factory=set)


class _Walker:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0
        self.scopes: list[set[str]] = []
        self.result = ScanResult()
        self.last_was_call = False  # did the last suffixed expression end with a call?

    # ---- token helpers -----------------------------------------------------------------
    @property
    def cur(self) -> Token:
        return self.toks[self.i]

    def ahead(self, n: int = 1) -> Token:
        return self.toks[min(self.i + n, len(self.toks) - 1)]

    def advance(self) -> Token:
        tok = self.toks[self.i]
        if tok.kind != EOF:
            self.i += 1
        return tok

    def accept_op(self, text: str) -> bool:
        if self.cur.is_op(text):
            self.advance()
            return True
        return False

    def expect_op(self, text: str) -> None:
        if not self.accept_op(text):
            raise self.error(f"'{text}' expected")

    def expect_kw(self, text: str) -> None:
        if not self.cur.is_kw(text):
            raise self.error(f"'{text}' expected")
        self.advance()

    def name(self) -> str:
        if self.cur.kind != NAME:
            raise self.error("name expected")
        return self.advance().value

    def error(self, message: str) -> ParseError:
        tok = self.cur
        near = tok.value if tok.kind != EOF else "<eof>"
        return ParseError(f"{message} near {near!r}", tok.line)

    # ---- scopes ------------------------------------------------------------------------
    def declare(self, *names: str) -> None:
        self.scopes[-1].update(names)
        self.result.locals.update(names)

    def is_local(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    # ---- blocks and statements ---------------------------------------------------------
    def chunk(self) -> ScanResult:
        self.block(("...",))
        if self.cur.kind != EOF:
            raise self.error("'<eof>' expected")
        return self.result

    def block(self, names: tuple[str, ...] = (), *, keep_scope: bool = False) -> None:
        self.scopes.append(set(names))
        self.result.locals.update(names)
        self.statements()
        if not keep_scope:
            self.scopes.pop()

    def statements(self) -> None:
        while True:
            tok = self.cur
            if tok.kind == EOF or (tok.kind == KEYWORD and tok.value in _BLOCK_END):
                return
            if tok.is_kw("return"):
                self.advance()
                if not self._block_follow() and not self.cur.is_op(";"):
                    self.explist()
                self.accept_op(";")
                return
            self.statement()

    def _block_follow(self) -> bool:
        tok = self.cur
        return tok.kind == EOF or (tok.kind == KEYWORD and tok.value in _BLOCK_END)

    def statement(self) -> None:  # noqa: C901 - one branch per statement kind
        tok = self.cur
        if tok.is_op(";"):
            self.advance()
        elif tok.is_op("::"):
            self.advance()
            self.name()
            self.expect_op("::")
        elif tok.is_kw("break"):
            self.advance()
        elif tok.is_kw("goto"):
            self.advance()
            self.name()
        elif tok.is_kw("do"):
            self.advance()
            self.block()
            self.expect_kw("end")
        elif tok.is_kw("while"):
            self.advance()
            self.expr()
            self.expect_kw("do")
            self.block()
            self.expect_kw("end")
        elif tok.is_kw("repeat"):
            self.advance()
            self.block(keep_scope=True)  # `until` sees the block's locals
            self.expect_kw("until")
            self.expr()
            self.scopes.pop()
        elif tok.is_kw("if"):
            self.if_stat()
        elif tok.is_kw("for"):
            self.for_stat()
        elif tok.is_kw("function"):
            self.function_stat()
        elif tok.is_kw("local"):
            self.advance()
            if self.cur.is_kw("function"):
                self.advance()
                name = self.name()
                self.declare(name)
                self.funcbody()
            else:
                self.local_stat()
        else:
            self.expr_stat()

    def if_stat(self) -> None:
        self.advance()
        self.expr()
        self.expect_kw("then")
        self.block()
        while self.cur.is_kw("elseif"):
            self.advance()
            self.expr()
            self.expect_kw("then")
            self.block()
        if self.cur.is_kw("else"):
            self.advance()
            self.block()
        self.expect_kw("end")

    def for_stat(self) -> None:
        self.advance()
        names = [self.name()]
        if self.accept_op("="):
            self.expr()
            self.expect_op(",")
            self.expr()
            if self.accept_op(","):
                self.expr()
        else:
            while self.accept_op(","):
                names.append(self.name())
            self.expect_kw("in")
            self.explist()
        self.expect_kw("do")
        self.block(tuple(names))
        self.expect_kw("end")

    def function_stat(self) -> None:
        self.advance()
        line = self.cur.line
        root = self.name()
        path = [root]
        method = False
        while self.cur.is_op(".") or self.cur.is_op(":"):
            method = self.advance().value == ":"
            path.append(self.name())
            if method:
                break
        if not self.is_local(root):
            if len(path) == 1:
                self.result.assigns.append(GlobalAssign(root, line, function=True))
            else:
                self._record(path[:-1], line)
        self.funcbody(("self",) if method else ())

    def local_stat(self) -> None:
        names = []
        while True:
            names.append(self.name())
            if self.accept_op("<"):  # attribute: <const> / <close>
                self.name()
                self.expect_op(">")
            if not self.accept_op(","):
                break
        if self.accept_op("="):
            self.explist()
        self.declare(*names)  # visible only after the statement (local x = x reads the outer x)

    def expr_stat(self) -> None:
        target = self.suffixedexp()
        if self.cur.is_op("=") or self.cur.is_op(","):
            targets = [target]
            while not self.last_was_call and self.accept_op(","):
                targets.append(self.suffixedexp())
            if self.last_was_call:
                raise self.error("syntax error")  # a call cannot be assigned to
            self.expect_op("=")
            self.explist()
            for bare in targets:
                if bare is not None:
                    self.result.assigns.append(GlobalAssign(bare.path[0], bare.line))
        elif not self.last_was_call:
            raise self.error("syntax error")  # only calls and assignments are statements

    # ---- expressions -------------------------------------------------------------------
    def explist(self) -> None:
        self.expr()
        while self.accept_op(","):
            self.expr()

    def expr(self) -> None:
        while True:
            while self.cur.is_kw("not") or (self.cur.kind == OP and self.cur.value in _UNARY):
                self.advance()
            self.simpleexp()
            tok = self.cur
            if (tok.kind == OP and tok.value in _BINARY) or tok.is_kw("and") or tok.is_kw("or"):
                self.advance()
                continue
            return

    def simpleexp(self) -> None:
        tok = self.cur
        if tok.kind in (NUMBER, STRING) or tok.is_op("..."):
            self.advance()
        elif tok.kind == KEYWORD and tok.value in ("nil", "true", "false"):
            self.advance()
        elif tok.is_op("{"):
            self.constructor()
        elif tok.is_kw("function"):
            self.advance()
            self.funcbody()
        else:
            bare = self.suffixedexp()
            if bare is not None:
                self.result.refs.append(bare)

    def funcbody(self, implicit: tuple[str, ...] = ()) -> None:
        self.expect_op("(")
        params = list(implicit)
        if not self.cur.is_op(")"):
            while True:
                if self.accept_op("..."):
                    params.append("...")
                    break
                params.append(self.name())
                if not self.accept_op(","):
                    break
        self.expect_op(")")
        self.block(tuple(params))
        self.expect_kw("end")

    def constructor(self) -> None:
        self.expect_op("{")
        while not self.cur.is_op("}"):
            if self.cur.is_op("["):
                self.advance()
                self.expr()
                self.expect_op("]")
                self.expect_op("=")
                self.expr()
            elif self.cur.kind == NAME and self.ahead().is_op("="):
                self.advance()
                self.advance()
                self.expr()
            else:
                self.expr()
            if not (self.accept_op(",") or self.accept_op(";")):
                break
        self.expect_op("}")

    def args(self) -> str | None:
        """Call arguments; returns the single literal string argument, if that is what it is."""
        tok = self.cur
        if tok.kind == STRING:
            self.advance()
            return tok.value
        if tok.is_op("{"):
            self.constructor()
            return None
        self.expect_op("(")
        literal = None
        if self.cur.kind == STRING and self.ahead().is_op(")"):
            literal = self.cur.value
        if not self.cur.is_op(")"):
            self.explist()
        self.expect_op(")")
        return literal

    def _record(self, path: list[str], line: int) -> None:
        explicit = bool(path) and path[0] in _ENV_NAMES and len(path) > 1
        if explicit:
            path = path[1:]
        self.result.refs.append(GlobalRef(tuple(path), line, explicit))

    def suffixedexp(self) -> GlobalRef | None:
        """Parse a suffixed expression and record the global it reads, if any.

        Returns:
            A lone global name (no suffix) *unrecorded*: the caller knows whether it is read
            or assigned. None otherwise.
        """
        tok = self.cur
        path: list[str] | None = None
        line = tok.line
        if tok.kind == NAME:
            self.advance()
            if not self.is_local(tok.value):
                path = [tok.value]
        elif tok.is_op("("):
            self.advance()
            self.expr()
            self.expect_op(")")
        else:
            raise self.error("unexpected symbol")
        bare = path is not None
        is_require = path == ["require"]
        called = False
        while True:
            cur = self.cur
            if cur.is_op("."):
                self.advance()
                fld = self.name()
                if path is not None:
                    path.append(fld)
                called = False
            elif cur.is_op("["):
                self.advance()
                key = self.cur
                if path is not None and key.kind == STRING and self.ahead().is_op("]"):
                    path.append(key.value)
                elif path is not None:
                    self._record(path, line)
                    path = None
                self.expr()
                self.expect_op("]")
                called = False
            elif cur.is_op(":"):
                self.advance()
                method = self.name()
                if path is not None:
                    path.append(method)
                    self._record(path, line)
                    path = None
                self.args()
                called = True
            elif cur.kind == STRING or cur.is_op("(") or cur.is_op("{"):
                if path is not None:
                    self._record(path, line)
                    path = None
                literal = self.args()
                if is_require:
                    self.result.requires.append(Require(literal, line))
                    is_require = False
                called = True
            else:
                break
            bare = False
        self.last_was_call = called
        if path is None:
            return None
        if bare:
            return GlobalRef((path[0],), line)  # the caller decides: read or assignment target
        self._record(path, line)
        return None


def scan(source: str) -> ScanResult:
    """Walk one Lua chunk.

    Raises:
        LexError: from the tokenizer.
        ParseError: the chunk is not valid Lua.
    """
    return _Walker(tokenize(source)).chunk()
