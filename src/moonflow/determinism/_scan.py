"""A scope-aware walk over a Lua 5.4 chunk: which globals it reads, assigns and requires.

A small recursive-descent parser over the tokens of :mod:`._lexer` (the full Lua 5.4 statement
and expression grammar, no AST kept). It tracks ``local`` declarations, function parameters and
``for`` variables per block, so that a local named ``io`` or ``os`` shadows the global, and it
reports:

* every reference to a global name with its static field path (``io.open``, ``os["time"]``,
  ``_G.math.random`` -> ``math.random``), up to the first call or computed index;
* every assignment to a global name (``counter = counter + 1``, ``function main() end``);
* every ``require`` call, with its module name when it is a literal string;
* every write a query handler makes to state outside it (:class:`QueryWrite`): an assignment
  to a local of an enclosing function (an upvalue: the workflow's variables) or to a global,
  or to a field of one (``state.x = 1``, ``table.insert(state.items, x)``), inside a
  function literal passed to ``workflow.on_query``, or inside a function passed by name when
  the file defines it
  (``local function h() ... end``, ``local h = function() ... end``, ``function h() ... end``).
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
#: ``table`` functions that change the table given first (a write, like ``t[k] = v``).
_TABLE_WRITERS = frozenset({"insert", "remove", "sort", "move"})


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


@dataclass(frozen=True)
class QueryWrite:
    """A write a query handler makes to state that outlives the query.

    Attributes:
        name: the variable written (the root name for a field write).
        line: 1-based line of the write.
        query: the query's name when ``workflow.on_query`` got a literal string, else None.
        field: True for a field write (``state.x = 1``, ``state[k] = v``).
        upvalue: True for a local of an enclosing function, False for a global.
    """

    name: str
    line: int
    query: str | None
    field: bool = False
    upvalue: bool = True


@dataclass
class _Fn:
    """An open or parsed function body: its nesting depth and the writes it makes to names
    declared outside it (in an enclosing function, or globals)."""

    depth: int
    writes: list[tuple[str, int, bool, bool]] = field(default_factory=list)


@dataclass
class ScanResult:
    """What :func:`scan` found, each list in source order."""

    refs: list[GlobalRef] = field(default_factory=list)
    assigns: list[GlobalAssign] = field(default_factory=list)
    requires: list[Require] = field(default_factory=list)
    query_writes: list[QueryWrite] = field(default_factory=list)
    #: every name declared local anywhere in the chunk (parameters, for variables included)
    locals: set[str] = field(default_factory=set)


class _Walker:
    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0
        self.scopes: list[dict[str, int]] = []  # name -> declaration id
        self.scope_depth: list[int] = []  # function nesting depth of each scope
        self.depth = 0  # function nesting depth (the chunk is 0)
        self.decls = 0
        self.result = ScanResult()
        self.last_was_call = False  # did the last suffixed expression end with a call?
        # root name of the last suffixed expression, when it is a plain variable or an index
        # chain on one (no call, no parenthesis), and whether it had a suffix
        self.last_root: str | None = None
        self.last_field = False
        self.fns: list[_Fn] = []  # open function bodies
        self.fn_at: dict[int, _Fn] = {}  # token index of `function` -> its body
        self.decl_fn: dict[int, _Fn] = {}  # local declaration id -> the function it holds
        self.global_fn: dict[str, _Fn] = {}  # `function name() end` at any level
        # query handlers: (body or the name passed, query name, line)
        self.handlers: list[tuple[_Fn | int | str, str | None]] = []

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
        for name in names:
            self.decls += 1
            self.scopes[-1][name] = self.decls
        self.result.locals.update(names)

    def is_local(self, name: str) -> bool:
        return any(name in scope for scope in self.scopes)

    def resolve(self, name: str) -> tuple[int, int] | None:
        """``(declaration id, function depth)`` of the local ``name`` visible here, or None."""
        for scope, depth in zip(reversed(self.scopes), reversed(self.scope_depth), strict=True):
            if name in scope:
                return scope[name], depth
        return None

    def note_write(self, name: str, line: int, is_field: bool) -> None:
        """Record a write to ``name`` (or a field of it) in every open function body it is
        outside of (a query handler's writes include those of functions nested in it)."""
        found = self.resolve(name)
        depth = -1 if found is None else found[1]
        for fn in self.fns:
            if fn.depth > depth:
                fn.writes.append((name, line, is_field, found is not None))

    # ---- blocks and statements ---------------------------------------------------------
    def chunk(self) -> ScanResult:
        self.block(("...",))
        if self.cur.kind != EOF:
            raise self.error("'<eof>' expected")
        return self.result

    def block(self, names: tuple[str, ...] = (), *, keep_scope: bool = False) -> None:
        self.scopes.append({})
        self.scope_depth.append(self.depth)
        self.declare(*names)
        self.statements()
        if not keep_scope:
            self.pop_scope()

    def pop_scope(self) -> None:
        self.scopes.pop()
        self.scope_depth.pop()

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
            self.pop_scope()
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
                self.decl_fn[self.scopes[-1][name]] = self.funcbody()
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
        if len(path) == 1:
            self.note_write(root, line, False)
        if not self.is_local(root):
            if len(path) == 1:
                self.result.assigns.append(GlobalAssign(root, line, function=True))
            else:
                self._record(path[:-1], line)
        fn = self.funcbody(("self",) if method else ())
        if len(path) == 1 and not self.is_local(root):
            self.global_fn[root] = fn

    def local_stat(self) -> None:
        names = []
        while True:
            names.append(self.name())
            if self.accept_op("<"):  # attribute: <const> / <close>
                self.name()
                self.expect_op(">")
            if not self.accept_op(","):
                break
        start = -1
        if self.accept_op("="):
            start = self.i
            self.explist()
        self.declare(*names)  # visible only after the statement (local x = x reads the outer x)
        fn = self.fn_at.get(start)
        if len(names) == 1 and fn is not None:  # local h = function() ... end
            self.decl_fn[self.scopes[-1][names[0]]] = fn

    def expr_stat(self) -> None:
        line = self.cur.line
        target = self.suffixedexp()
        if self.cur.is_op("=") or self.cur.is_op(","):
            targets = [target]
            roots = [(self.last_root, line, self.last_field)]
            while not self.last_was_call and self.accept_op(","):
                line = self.cur.line
                targets.append(self.suffixedexp())
                roots.append((self.last_root, line, self.last_field))
            if self.last_was_call:
                raise self.error("syntax error")  # a call cannot be assigned to
            self.expect_op("=")
            self.explist()
            for root, at, is_field in roots:
                if root is not None:
                    self.note_write(root, at, is_field)
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
            start = self.i
            self.advance()
            self.fn_at[start] = self.funcbody()
        else:
            bare = self.suffixedexp()
            if bare is not None:
                self.result.refs.append(bare)

    def funcbody(self, implicit: tuple[str, ...] = ()) -> _Fn:
        fn = _Fn(self.depth + 1)
        self.fns.append(fn)
        self.depth += 1
        try:
            self._funcbody(implicit)
        finally:
            self.depth -= 1
            self.fns.pop()
        return fn

    def _funcbody(self, implicit: tuple[str, ...]) -> None:
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

    def query_args(self) -> None:
        """Arguments of ``workflow.on_query(name, fn)``: note the handler (a function literal,
        or a name to resolve to a function this file defines)."""
        if not self.cur.is_op("("):
            self.args()
            return
        self.advance()
        query = None
        if self.cur.kind == STRING and self.ahead().is_op(","):
            query = self.cur.value
        while not self.cur.is_op(")"):
            tok, nxt, start = self.cur, self.ahead(), self.i
            whole = nxt.is_op(",") or nxt.is_op(")")
            if tok.kind == NAME and whole:
                found = self.resolve(tok.value)
                self.handlers.append((tok.value if found is None else found[0], query))
            self.expr()
            fn = self.fn_at.get(start)
            if fn is not None and (self.cur.is_op(",") or self.cur.is_op(")")):
                self.handlers.append((fn, query))
            if not self.accept_op(","):
                break
        self.expect_op(")")

    def handler_writes(self) -> list[QueryWrite]:
        """The writes of every query handler found, once each, in line order."""
        found: dict[tuple[str, int], QueryWrite] = {}
        for handler, query in self.handlers:
            if isinstance(handler, _Fn):
                fn = handler
            elif isinstance(handler, int):
                fn = self.decl_fn.get(handler)
            else:
                fn = self.global_fn.get(handler)
            for name, line, is_field, upvalue in fn.writes if fn else ():
                found.setdefault((name, line), QueryWrite(name, line, query, is_field, upvalue))
        return sorted(found.values(), key=lambda w: (w.line, w.name))

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
        root: str | None = None
        if tok.kind == NAME:
            self.advance()
            root = tok.value
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
        chain: list[str] = []  # static field names after the root, up to the first call
        called = False
        suffixed = False
        while True:
            cur = self.cur
            if cur.is_op("."):
                self.advance()
                fld = self.name()
                chain.append(fld)
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
                root = None
                called = True
            elif cur.kind == STRING or cur.is_op("(") or cur.is_op("{"):
                if (
                    path is not None
                    and len(path) == 2
                    and path[0] == "table"
                    and path[1] in _TABLE_WRITERS
                    and cur.is_op("(")
                    and self.ahead().kind == NAME
                ):  # table.insert(state.items, x) changes state
                    self.note_write(self.ahead().value, self.ahead().line, True)
                if path is not None:
                    self._record(path, line)
                    path = None
                if root == "workflow" and chain == ["on_query"]:
                    self.query_args()
                    literal = None
                else:
                    literal = self.args()
                root = None  # a call's result is not a variable of the workflow
                if is_require:
                    self.result.requires.append(Require(literal, line))
                    is_require = False
                called = True
            else:
                break
            bare = False
            suffixed = True
        self.last_was_call = called
        self.last_root = root if tok.kind == NAME else None
        self.last_field = suffixed
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
    walker = _Walker(tokenize(source))
    result = walker.chunk()
    result.query_writes = walker.handler_writes()
    return result
