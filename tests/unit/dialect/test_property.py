"""Property test: random annotated programs and their hand-written plain twins give the same
results once the annotated one is erased.

A seeded generator emits statements from a small grammar; each statement is produced twice, with
random annotations (types from lua-dialect.md §3, casts, generics, aliases, interfaces, labels)
and without. Both are run in a plain ``lupa.lua54`` runtime and their logs compared.
"""

from __future__ import annotations

import random

import lupa.lua54 as lupa
import pytest

from moonflow.dialect import _erase, erase

CASES = 3000


class Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.vars: list[str] = []
        self.funcs: list[str] = []  # functions of two numbers returning one number
        self.multi: list[str] = []  # functions returning two numbers
        self.n = 0

    def fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    # -- types ------------------------------------------------------------------------------

    def type(self, depth: int = 0) -> str:
        r = self.rng
        if depth > 2:
            return r.choice(["number", "string", "T", "any", "nil"])
        k = r.randrange(22)
        sub = lambda: self.type(depth + 1)  # noqa: E731
        if k == 0:
            return f"{sub()}?"
        if k == 1:
            sep = r.choice([" | ", " |\n    ", "\n    | "])
            return f"{sub()}{sep}{sub()}"
        if k == 2:
            return f"{sub()} & {sub()}"
        if k == 3:
            return f"{{{sub()}}}"
        if k == 4:
            return f"{sub()}[]"
        if k == 5:
            return f"{{[{sub()}]: {sub()}}}"
        if k == 6:
            opt = r.choice(["", "?"])
            field = r.choice(["name", "type", "end", "value"])
            return f"{{{field}{opt}: {sub()}, age?: number,}}"
        if k == 7:
            return f"readonly {{x: {sub()}}}"
        if k == 8:
            return f"({r.choice(['x: ', ''])}{sub()}, ...{sub()}) -> {sub()}"
        if k == 9:
            return "() -> ()"
        if k == 10:
            return f"({sub()}) -> ({sub()}, {sub()})"
        if k == 11:
            return f"fun(a: {sub()}): {sub()}"
        if k == 12:
            return r.choice(['typeof(require("x"))', "typeof(log)", "keyof(T)"])
        if k == 13:
            return f"{sub()}[K]"
        if k == 14:
            return f"A extends ({sub()}) ? {sub()} : {sub()}"
        if k == 15:
            return r.choice(["number @min(0) @max(100)", 'string @pattern("a@b")'])
        if k == 16:
            return f"Box<{sub()}>"
        if k == 17:
            return f"Map<string, Box<{sub()}>>"
        if k == 18:
            return r.choice(['"pending"', "42", "true", "process.Message"])
        if k == 19:
            return f"interface {{n: {sub()}}}"
        if k == 20:
            return f"({sub()})"
        return r.choice(["number", "string", "integer", "boolean", "any", "T"])

    def ann(self) -> str:
        return f": {self.type()}" if self.rng.random() < 0.6 else ""

    # -- expressions ------------------------------------------------------------------------

    def atom(self) -> tuple[str, str]:
        r = self.rng
        if self.vars and r.random() < 0.6:
            a = p = r.choice(self.vars)
        else:
            a = p = str(r.randrange(1, 9))
        roll = r.random()
        if roll < 0.15:
            return f"({a} as {self.type()})", p
        if roll < 0.25:
            return f"({a} :: {self.type()})", p
        if roll < 0.35 and a in self.vars:
            return f"{a}!", p
        return a, p

    def expr(self, depth: int = 0) -> tuple[str, str]:
        r = self.rng
        if depth > 1 or r.random() < 0.4:
            return self.atom()
        if self.funcs and r.random() < 0.3:
            f = r.choice(self.funcs)
            (a1, p1), (a2, p2) = self.expr(depth + 1), self.expr(depth + 1)
            targs = f"::<{self.type()}>" if r.random() < 0.3 else ""
            return f"{f}{targs}({a1}, {a2})", f"{f}({p1}, {p2})"
        op = r.choice(["+", "-", "*", "//", "%"])
        (a1, p1), (a2, p2) = self.expr(depth + 1), self.expr(depth + 1)
        if op in ("//", "%"):
            return f"{a1} {op} ({a2} * 0 + 3)", f"{p1} {op} ({p2} * 0 + 3)"
        return f"({a1} {op} {a2})", f"({p1} {op} {p2})"

    # -- statements -------------------------------------------------------------------------

    def statement(self) -> tuple[str, str]:
        r = self.rng
        k = r.randrange(14)
        if k == 0 or not self.vars:
            name = self.fresh("v")
            a, p = self.expr()
            self.vars.append(name)
            return f"local {name}{self.ann()} = {a}", f"local {name} = {p}"
        if k == 1:
            f = self.fresh("f")
            gen = f"<T, U: {self.type()}>" if r.random() < 0.3 else ""
            body_a, body_p = self.expr_with(["a", "b"])
            ret = r.choice(["", f": {self.type()}", ": (number)", ": number?, any"])
            ann_a = f"local function {f}{gen}(a{self.ann()}, b{self.ann()}){ret}\n  return {body_a}\nend"
            self.funcs.append(f)
            return ann_a, f"local function {f}(a, b)\n  return {body_p}\nend"
        if k == 2:
            f = self.fresh("g")
            ret = r.choice([": (number, number)", ": number, number", ": any, any?"])
            self.multi.append(f)
            return (
                f"local {f} = function(x{self.ann()}){ret} return x, x + 1 end",
                f"local {f} = function(x) return x, x + 1 end",
            )
        if k == 3:
            alias = self.fresh("Alias")
            gen = r.choice(["", "<T>", "<K, V>"])
            return f"type {alias}{gen} = {self.type()}", ""
        if k == 4:
            name = self.fresh("I")
            return (
                f"interface {name}\n  n: {self.type()}\n  function get(self: any): {self.type()}\nend",
                "",
            )
        if k == 5 and self.multi:
            f = r.choice(self.multi)
            cast = r.choice([f" as {self.type()}", f" :: {self.type()}", "!"])
            return (
                f'log(select("#", {f}(1){cast}))',
                f'log(select("#", ({f}(1))))',
            )
        if k == 6 and self.multi:
            f = r.choice(self.multi)
            x, y = self.fresh("m"), self.fresh("m")
            self.vars += [x, y]
            return (
                f"local {x}{self.ann()}, {y}{self.ann()} = {f}(2)",
                f"local {x}, {y} = {f}(2)",
            )
        if k == 7:
            a, p = self.expr()
            return f"log({a})", f"log({p})"
        if k == 8:
            (a1, p1), (a2, p2) = self.expr(), self.expr()
            return (
                f"if {a1} < {a2} then log(1) elseif {a1} > {a2} then log(2) else log(3) end",
                f"if {p1} < {p2} then log(1) elseif {p1} > {p2} then log(2) else log(3) end",
            )
        if k == 9:
            i = self.fresh("i")
            a, p = self.expr_with([i])
            ann = f": {self.type()}" if r.random() < 0.5 else ""
            return (
                f"for {i}{ann} = 1, 3 do\n  if {i} == 2 then goto continue end\n"
                f"  log({a} :: number)\n  ::continue::\nend",
                f"for {i} = 1, 3 do\n  if {i} == 2 then goto continue end\n"
                f"  log(({p}))\n  ::continue::\nend",
            )
        if k == 10:
            o = self.fresh("o")
            self.vars.append(f"{o}.n")
            return (
                f"local {o} = {{n = 1}}\nfunction {o}:add(k{self.ann()}){self.ann()}\n"
                f"  self.n = self.n + k\n  return self\nend\n{o}:add(2)",
                f"local {o} = {{n = 1}}\nfunction {o}:add(k)\n"
                f"  self.n = self.n + k\n  return self\nend\n{o}:add(2)",
            )
        if k == 11:
            v = r.choice(self.vars)
            return f"log(type({v}))", f"log(type({v}))"
        if k == 12:
            t = self.fresh("t")
            self.vars.append(f"{t}.get()")
            return (
                f"local {t} = {{ get = function(){self.ann()} return 4 end }}",
                f"local {t} = {{ get = function() return 4 end }}",
            )
        a, p = self.expr()
        return f"log({a} as {self.type()})", f"log(({p}))"

    def expr_with(self, names: list[str]) -> tuple[str, str]:
        saved = self.vars
        self.vars = names
        try:
            return self.expr()
        finally:
            self.vars = saved

    def program(self) -> tuple[str, str]:
        ann, plain = (
            ["local out = {}\nlocal function log(x) out[#out + 1] = tostring(x) end"],
            ["local out = {}\nlocal function log(x) out[#out + 1] = tostring(x) end"],
        )
        for _ in range(self.rng.randrange(2, 9)):
            a, p = self.statement()
            ann.append(a)
            plain.append(p)
        tail = "return table.concat(out, ',')"
        return "\n".join([*ann, tail]) + "\n", "\n".join([*plain, tail]) + "\n"


def _runner():
    rt = lupa.LuaRuntime()
    return rt.eval(
        "function(s) local f, e = load(s, '=t.lua', 't') if not f then return 'COMPILE ' .. e end "
        "local ok, r = pcall(f) if not ok then return 'ERROR ' .. tostring(r) end return r end"
    )


def _check_all(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    run = _runner()
    problems = []
    for i in range(count):
        ann, plain = Gen(rng).program()
        try:
            out = erase(ann, "t.lua")
        except Exception as exc:  # noqa: BLE001 - reported as a mismatch
            problems.append(f"case {i}: {exc}\n{ann}")
            continue
        if out.count("\n") != ann.count("\n"):
            problems.append(f"case {i}: line count changed\n{ann}")
            continue
        got, want = run(out), run(plain)
        if got != want or str(want).startswith(("COMPILE", "ERROR")):
            problems.append(f"case {i}: {got!r} != {want!r}\n--- annotated\n{ann}--- erased\n{out}")
    return problems


def test_random_programs_match_their_plain_twins():
    problems = _check_all(seed=20261204, count=CASES)
    assert not problems, f"{len(problems)} mismatches; first:\n{problems[0]}"


@pytest.mark.parametrize(
    "mutant",
    ["no_parentheses", "question_mark_not_optional", "union_ends_at_newline"],
)
def test_the_property_catches_a_broken_eraser(monkeypatch, mutant):
    """Each mutant of the eraser makes the property fail: the test has teeth."""
    if mutant == "no_parentheses":

        def wrap(self, expr_start, marker):
            self.edits.append((marker.start, marker.end, " " * (marker.end - marker.start)))

        monkeypatch.setattr(_erase._Eraser, "wrap", wrap)
    elif mutant == "question_mark_not_optional":
        original = _erase._Eraser.skip_postfix_type

        def skip_postfix_type(self, optional=True):
            original(self, optional=False)

        monkeypatch.setattr(_erase._Eraser, "skip_postfix_type", skip_postfix_type)
    else:
        original_skip = _erase._Eraser.skip_type

        def skip_type(self):
            line = self.tok.line
            self.skip_postfix_type()
            while (self.at("|") or self.at("&")) and self.tok.line == line:
                self.next()
                self.skip_postfix_type()

        monkeypatch.setattr(_erase._Eraser, "skip_type", skip_type)
        assert original_skip is not skip_type
    assert _check_all(seed=7, count=300)
