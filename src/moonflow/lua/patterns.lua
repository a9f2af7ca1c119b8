-- moonflow bounded pattern matching: string.find/match/gmatch/gsub that no pattern can use to
-- hold the Lua state.
--
-- Lua's matcher (lstrlib.c) backtracks in C, where the instruction budget's count hook never
-- fires: string.find(("a"):rep(2000), ("a-"):rep(3) .. "b") runs for hours while every other
-- run of the state waits. So a call first looks up, for its pattern, the longest subject on
-- which an upper bound of the C matcher's work stays small (analyse(), once per pattern and
-- state; a table lookup and a comparison afterwards). Up to that length the C function runs;
-- beyond it, a port of the C matcher in Lua, whose instructions the budget counts. Both give
-- the same results and errors (tests/unit/lua/test_patterns.py compares them on random
-- patterns). Which one runs depends only on the pattern and the subject's length, so a replay
-- takes the same way.
--
-- Loaded on a state's first pattern call (stubs in sandbox.lua); installs the guarded functions
-- into the state's real string table, so that s:find() is guarded too.
local sys = ...
local raw = sys.raw
local c_find, c_match, c_gmatch, c_gsub = sys.c_string.find, sys.c_string.match,
    sys.c_string.gmatch, sys.c_string.gsub
local byte, sub = string.byte, string.sub
local concat, unpack, pack = table.concat, table.unpack, table.pack
local mtype, tointeger = math.type, math.tointeger
local type, tostring, tonumber, select = type, tostring, tonumber, select
local rawget, error = rawget, error
local getinfo, getmetatable = raw.getinfo, raw.debug_getmetatable

-- A call goes to C if the bound is at most LIMIT steps plus PER_BYTE per subject byte. Measured
-- here (test_patterns.py, test_c_calls_at_the_limits_are_short): C does a step in 0.1-1.5 ns,
-- so a superlinear pattern gets a few ms at most, and a linear one stays in C on big strings
-- (convert.lua quotes every string it encodes with gsub) at ~10-20 ns per byte.
local LIMIT, PER_BYTE = 2e6, 8
-- A plain find (lmemfind) compares up to #needle bytes at each candidate position: the same
-- rule, in byte comparisons (~0.25 ns each) plus PLAIN_EXTRA per position.
local PLAIN_LIMIT, PLAIN_PER_BYTE, PLAIN_EXTRA = 12000000, 24, 8
local NMAX = 1 << 40 -- longer than any string
local MAXCCALLS, MAXCAPTURES, CACHE_MAX = 200, 32, 1000
local CACHE_MAX_LEN = 4096 -- longer patterns and replacements are not kept (memory per state)
local CAP_UNFINISHED, CAP_POSITION = -1, -2
local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]" -- a pattern without these is a plain find

-- Item kinds and quantifiers.
local ONE, OPEN, POS, CLOSE, EOS, BAL, FRONT, BREF, ERR = 1, 2, 3, 4, 5, 6, 7, 8, 9
local STAR, PLUS, LAZY, OPT = 1, 2, 3, 4
local QUANT = { [42] = STAR, [43] = PLUS, [45] = LAZY, [63] = OPT }

local M = {}

-- ---- Character sets ---------------------------------------------------------------------------
-- A set is a table [byte] = true plus its 256 bits in w0..w3 (for the analysis); classes are
-- those of the C locale.
local function alnum(c)
    return (c >= 48 and c <= 57) or (c >= 65 and c <= 90) or (c >= 97 and c <= 122)
end
local CLASSES = { -- by lowercase letter
    [97] = function(c) return (c >= 65 and c <= 90) or (c >= 97 and c <= 122) end,
    [99] = function(c) return c < 32 or c == 127 end,
    [100] = function(c) return c >= 48 and c <= 57 end,
    [103] = function(c) return c > 32 and c < 127 end,
    [108] = function(c) return c >= 97 and c <= 122 end,
    [112] = function(c) return c > 32 and c < 127 and not alnum(c) end,
    [115] = function(c) return (c >= 9 and c <= 13) or c == 32 end,
    [117] = function(c) return c >= 65 and c <= 90 end,
    [119] = alnum,
    [120] = function(c)
        return (c >= 48 and c <= 57) or (c >= 65 and c <= 70) or (c >= 97 and c <= 102)
    end,
    [122] = function(c) return c == 0 end, -- %z: deprecated, still there
}

-- lstrlib's match_class: %a etc., uppercase for the complement, any other char itself.
local function match_class(c, cl)
    local upper = cl >= 65 and cl <= 90
    local test = CLASSES[upper and cl + 32 or cl]
    if test == nil then return cl == c end
    return test(c) ~= upper
end

local SETS = {}
-- The set of one item's class text ("a", ".", "%d", "[^%a_-]"), as singlematch tests it.
local function set_of(cls)
    local set = SETS[cls]
    if set then return set end
    set = {}
    local c1, n = byte(cls, 1), #cls
    if c1 == 46 and n == 1 then -- '.'
        for c = 0, 255 do set[c] = true end
    elseif c1 == 37 then
        for c = 0, 255 do set[c] = match_class(c, byte(cls, 2)) or nil end
    elseif c1 == 91 then -- walk [...] as matchbracketclass does; n is the closing ']'
        local members, neg, i = {}, byte(cls, 2) == 94, 1
        if neg then i = 2 end
        while true do
            i = i + 1
            if i >= n then break end
            local b = byte(cls, i)
            if b == 37 then
                i = i + 1
                for c = 0, 255 do members[c] = members[c] or match_class(c, byte(cls, i)) end
            elseif byte(cls, i + 1) == 45 and i + 2 < n then -- a range
                for c = b, byte(cls, i + 2) do members[c] = true end
                i = i + 2
            else
                members[b] = true
            end
        end
        for c = 0, 255 do set[c] = ((members[c] or false) ~= neg) or nil end
    else
        set[c1] = true
    end
    local w = { 0, 0, 0, 0 }
    for c = 0, 255 do
        if set[c] then w[(c >> 6) + 1] = w[(c >> 6) + 1] | (1 << (c & 63)) end
    end
    set.w0, set.w1, set.w2, set.w3 = w[1], w[2], w[3], w[4]
    SETS[cls] = set
    return set
end

-- ---- Parsing ----------------------------------------------------------------------------------
-- A pattern becomes a list of items, read as lstrlib's match() reads it. A malformed item is an
-- ERR item: C raises its error only when the match reaches it, and so do we.

-- lstrlib's classEnd: the index after the class starting at i, or nil and the error.
local function class_end(p, i, lp)
    local c = byte(p, i)
    i = i + 1
    if c == 37 then
        if i > lp then return nil, "malformed pattern (ends with '%')" end
        return i + 1
    elseif c == 91 then
        if byte(p, i) == 94 then i = i + 1 end
        repeat -- the first char is taken as is: "[]]" is a set of ']'
            if i > lp then return nil, "malformed pattern (missing ']')" end
            local b = byte(p, i)
            i = i + 1
            if b == 37 and i <= lp then i = i + 1 end
        until byte(p, i) == 93
        return i + 1
    end
    return i
end

local function parse(p, i)
    local lp, items = #p, {}
    while i <= lp do
        local c, c2 = byte(p, i), byte(p, i + 1)
        local it
        if c == 40 then -- ( or ()
            it, i = { k = c2 == 41 and POS or OPEN }, i + (c2 == 41 and 2 or 1)
        elseif c == 41 then
            it, i = { k = CLOSE }, i + 1
        elseif c == 36 and i == lp then -- $ at the end
            it, i = { k = EOS }, i + 1
        elseif c == 37 and c2 == 98 then -- %bxy
            if i + 2 >= lp then
                it = { k = ERR, msg = "malformed pattern (missing arguments to '%b')" }
            else
                it, i = { k = BAL, b = byte(p, i + 2), e = byte(p, i + 3) }, i + 4
            end
        elseif c == 37 and c2 == 102 then -- %f[set]
            local ep, err = nil, "missing '[' after '%f' in pattern"
            if byte(p, i + 2) == 91 then ep, err = class_end(p, i + 2, lp) end
            if ep then
                it, i = { k = FRONT, set = set_of(sub(p, i + 2, ep - 1)) }, ep
            else
                it = { k = ERR, msg = err }
            end
        elseif c == 37 and c2 and c2 >= 48 and c2 <= 57 then -- %0-%9
            it, i = { k = BREF, l = c2 - 48 }, i + 2
        else
            local ep, err = class_end(p, i, lp)
            if ep then
                local cls, q = sub(p, i, ep - 1), QUANT[byte(p, ep)] or 0
                it = { k = ONE, set = set_of(cls), q = q, any = cls == "." }
                i = ep + (q > 0 and 1 or 0)
            else
                it = { k = ERR, msg = err }
            end
        end
        items[#items + 1] = it
        if it.k == ERR then break end -- nothing after it can be reached
    end
    return items
end

-- ---- The cost bound ---------------------------------------------------------------------------
-- Right to left over the items, for each rest R: F = most steps a match of R takes to fail
-- (nil: R cannot fail), X = most steps a successful match takes beyond the length it matches
-- (that part is paid once per byte however many matches). m = n + 1 positions. A quantified
-- item whose rest begins (after optional items) with chars outside its set ("disjoint", as in
-- %w+= or [^"]*") can only go on where its run ends: elsewhere R fails within qf steps, so the
-- item adds to the cost instead of multiplying it.

-- Structure, once per item list: it.dis, it.qf, it.se (R matches at the subject's end), and
-- whether C could raise an error (an ERR item, a bad capture or back-reference, more than 32
-- captures or 200 nested calls): such patterns always take the Lua matcher, whose errors name
-- the caller's line, which C's cannot once called from here (level 1 is this file).
local function prepare(items)
    if items.clean ~= nil then return end
    local f0, f1, f2, f3, qf, se = -1, -1, -1, -1, 1, true
    for j = #items, 1, -1 do
        local it = items[j]
        local k = it.k
        it.qf, it.se = qf, se
        if k == ONE then
            local s = it.set
            it.dis = (s.w0 & f0) | (s.w1 & f1) | (s.w2 & f2) | (s.w3 & f3) == 0
            if it.q == 0 or it.q == PLUS then
                f0, f1, f2, f3, qf, se = s.w0, s.w1, s.w2, s.w3, 1, false
            else
                f0, f1, f2, f3, qf = f0 | s.w0, f1 | s.w1, f2 | s.w2, f3 | s.w3, qf + 1
            end
        elseif k == OPEN or k == POS or k == CLOSE then
            qf = qf + 1
        elseif k == EOS or k == BAL then
            local b = k == BAL and it.b or -1
            f0, f1, f2, f3, qf, se = 0, 0, 0, 0, 1, k == EOS
            if b >= 192 then f3 = 1 << (b - 192) elseif b >= 128 then f2 = 1 << (b - 128)
            elseif b >= 64 then f1 = 1 << (b - 64) elseif b >= 0 then f0 = 1 << b end
        else -- FRONT, BREF: any char; ERR ends the call where it is reached
            f0, f1, f2, f3, qf, se = -1, -1, -1, -1, 1, k == ERR
        end
    end
    local open, level, depth, clean = {}, 0, 1, true
    for j = 1, #items do
        local it = items[j]
        local k = it.k
        if k == ERR then
            clean = false
        elseif k == OPEN or k == POS then
            level, depth = level + 1, depth + 1
            open[level] = k == OPEN
        elseif k == CLOSE then
            local l = level
            while l > 0 and not open[l] do l = l - 1 end
            if l == 0 then clean = false else open[l] = false end
            depth = depth + 1
        elseif k == BREF then
            if it.l < 1 or it.l > level or open[it.l] then clean = false end
        elseif k == ONE and it.q > 0 then
            depth = depth + 1
        end
    end
    for l = 1, level do clean = clean and not open[l] end
    items.captures = level
    items.clean = clean and level <= MAXCAPTURES and depth <= MAXCCALLS
end

local function cost(items, m)
    local F, X = nil, 1
    for j = #items, 1, -1 do
        local it = items[j]
        local k, q = it.k, it.q
        if k == ONE and q == 0 or k == FRONT then
            F, X = 1 + (F or 0), X + 1
        elseif k == ONE then
            if F == nil then -- R cannot fail: the first try succeeds
                F = q == PLUS and 1 or nil
                X = X + 1
            elseif it.any and it.se and q ~= OPT then -- .* .- .+ before an R matching at the end
                F, X = q == PLUS and 1 or nil, q == LAZY and m * (F + 1) + X or X + 1
            elseif it.dis then
                local qf = it.qf
                if q == OPT then
                    F, X = F + qf + 1, X + 1
                else
                    F, X = m * (qf + 1) + F, (q == LAZY and m * qf or 0) + X + 1
                end
            elseif q == OPT then
                F, X = 1 + 2 * F, 1 + F + X
            elseif q == LAZY then
                F, X = m * (F + 1), m * F + 1 + X
            else
                F, X = m + m * F, m + m * F + X
            end
        elseif k == EOS then
            F, X = 1, 1
        elseif k == BAL or k == BREF then
            F, X = m + (F or 0), X + 1
        elseif k == ERR then
            F, X = nil, 1
        else -- captures
            F, X = F and F + 1, X + 1
        end
    end
    return F or 0, X
end

local ANCHORED, SEARCH, ITERATE = 1, 2, 3
-- Steps of one call on n bytes: one try (anchored), a try at every start (find, match), or up
-- to two at every start plus the matches (gsub, gmatch).
local function bound(items, n, mode)
    local m = n + 1.0 -- a float: bounds go far beyond 2^63
    local F, X = cost(items, m)
    if mode == ANCHORED then return (F > X + n and F or X + n) + n end
    if mode == SEARCH then return m * F + X + n end
    return 2 * m * (F > X and F or X) + n
end

-- The longest subject the C matcher may get: bounds grow with n, so a binary search.
local function max_len(items, mode)
    prepare(items)
    -- what the pattern costs whatever the subject (a?a?a?...) must fit in LIMIT alone
    if not items.clean or bound(items, 0, mode) > LIMIT then return -1 end
    local function ok(n)
        local b = bound(items, n, mode)
        return b <= LIMIT + PER_BYTE * n
    end
    if ok(NMAX) then return NMAX end
    local lo, hi = -1, NMAX
    while hi - lo > 1 do
        local mid = (lo + hi) // 2
        if ok(mid) then lo = mid else hi = mid end
    end
    return lo
end

local function plain_ok(ls, lp)
    return (ls + 1) * (lp + PLAIN_EXTRA) <= PLAIN_LIMIT + PLAIN_PER_BYTE * ls
end

-- C work is charged to the running budget (sys.charge: the kernel's during an activation, a
-- guarded call's during an activity call), in instructions. One C call is bounded (a few ms at
-- most) but costs only a handful of counted instructions, so without this a loop of such calls
-- would run for hours within the budget. A call is charged its bound, fitted once per pattern
-- as steps(n) = k * (n + 1)^d (d from the bound at lim and lim / 2); calls under CHARGE_MIN
-- steps are free (their loop's own instructions bound them).
local STEPS_PER_INSTRUCTION, CHARGE_MIN = 4, 1024
local FINDC, MATCHC, GMATCHC, GSUBC = {}, {}, {}, {}
local log = math.log
local function fit(items, mode, lim)
    if lim < 0 then return nil end
    local n1 = lim < (1 << 20) and lim or (1 << 20)
    local b1 = bound(items, n1, mode)
    if n1 < 2 then return { b1, 0 } end
    local n0 = n1 // 2
    local d = log(b1 / bound(items, n0, mode)) / log((n1 + 1) / (n0 + 1))
    d = d < 1 and 1 or d > 8 and 8 or d
    return { b1 / (n1 + 1) ^ d, d }
end
local function charge(c, n)
    local ch = sys.charge
    if ch ~= nil and c then
        local steps = c[1] * (n + 1) ^ c[2]
        if steps >= CHARGE_MIN then ch(steps // STEPS_PER_INSTRUCTION) end
    end
end
local function charge_plain(ls, lp) -- lmemfind: byte comparisons, about 4 to a step
    local ch = sys.charge
    if ch ~= nil then
        local steps = (ls + 1) * (lp + PLAIN_EXTRA) // 4
        if steps >= CHARGE_MIN then ch(steps // STEPS_PER_INSTRUCTION) end
    end
end
local function charge_repl(ls, repl) -- gsub copies (and scans) repl once per match
    local ch = sys.charge
    if ch ~= nil and type(repl) == "string" then
        local steps = (ls + 1) * #repl
        if steps >= CHARGE_MIN then ch(steps // 8) end
    end
end
local function charge_find(p, ls) -- a find's C call: fitted, or plain (FINDC[p] false)
    local c = FINDC[p]
    if c then charge(c, ls) elseif c == false then charge_plain(ls, #p) end
end

-- Caches, per pattern: the longest subject each function hands to C; its captures (gsub); the
-- parsed items (with and without a leading anchor); per replacement string: the highest
-- capture it names (10 if it is invalid).
local FIND, MATCH, GMATCH, GSUB, CAPS, ITEMS, GITEMS, TEMPLATE = {}, {}, {}, {}, {}, {}, {}, {}
local cached = 0

local function items_of(p, anchored)
    local cache = anchored and ITEMS or GITEMS
    local items = cache[p]
    if items == nil then
        items = parse(p, anchored and 2 or 1)
        cache[p] = items
    end
    return items
end

local function analyse(fname, p)
    if #p > CACHE_MAX_LEN then -- a long pattern empties the caches: at most one is ever kept
        cached = CACHE_MAX
    end
    if cached >= CACHE_MAX then -- start over rather than grow without end
        FIND, MATCH, GMATCH, GSUB, CAPS, ITEMS, GITEMS, TEMPLATE, SETS = {}, {}, {}, {}, {}, {}, {},
            {}, {}
        FINDC, MATCHC, GMATCHC, GSUBC = {}, {}, {}, {}
        cached = 0
    end
    cached = cached + 1
    if fname == "find" and c_find(p, SPECIALS) == nil then
        local per = #p + PLAIN_EXTRA -- solve plain_ok for ls
        FIND[p] = per <= PLAIN_PER_BYTE and NMAX or (PLAIN_LIMIT - per) // (per - PLAIN_PER_BYTE)
        FINDC[p] = false
        return FIND[p]
    end
    local anchored = fname ~= "gmatch" and byte(p, 1) == 94 -- a plain char in gmatch
    local items = items_of(p, anchored)
    local lim
    if fname == "gmatch" then
        lim = max_len(items, ITERATE)
        GMATCH[p], GMATCHC[p] = lim, fit(items, ITERATE, lim)
    elseif fname == "gsub" then
        lim = max_len(items, anchored and ANCHORED or ITERATE)
        GSUB[p], CAPS[p] = lim, items.captures
        GSUBC[p] = fit(items, anchored and ANCHORED or ITERATE, lim)
    else
        lim = max_len(items, anchored and ANCHORED or SEARCH)
        MATCH[p], MATCHC[p] = lim, fit(items, anchored and ANCHORED or SEARCH, lim)
        if fname == "find" then FIND[p], FINDC[p] = lim, MATCHC[p] end
    end
    return lim
end

local function template(repl)
    local need = TEMPLATE[repl]
    if need == nil then
        need = 0
        for c in c_gmatch(repl, "%%(.?)") do
            local d = c ~= "" and byte(c) - 48
            need = (c == "%" or d and d >= 0 and d <= 9) and (d and d > need and d or need) or 10
        end
        if #repl <= CACHE_MAX_LEN then TEMPLATE[repl] = need end
    end
    return need
end

-- For tests and calibration: the bound (steps) of a call on n bytes.
function M.bound(fname, p, n)
    local anchored = fname ~= "gmatch" and byte(p, 1) == 94
    local items = items_of(p, anchored)
    prepare(items)
    return bound(items, n, anchored and ANCHORED
        or (fname == "find" or fname == "match") and SEARCH or ITERATE)
end

-- ---- Errors -----------------------------------------------------------------------------------
-- lstrlib's errors name the caller's line (luaL_where(L, 1)): the frame above the function the
-- user called, found by walking up to a frame whose function passes test.
local function where_above(test)
    local level = 2
    while true do
        local info = getinfo(level, "f")
        if info == nil then return "" end
        if test(info.func) then
            local w = getinfo(level + 1, "Sl")
            if w and w.currentline > 0 then
                return w.short_src .. ":" .. w.currentline .. ": ", level
            end
            return "", level
        end
        level = level + 1
    end
end

local function fail(ms, msg)
    local top = ms.top
    error(where_above(function(f) return f == top end) .. msg, 0)
end

-- luaL_argerror, for the entry function (ENTRY: function -> name) the user called.
local ENTRY = {}
local function arg_error(arg, msg)
    local prefix, level = where_above(function(f) return ENTRY[f] ~= nil end)
    local info = level and getinfo(level - 1, "fn") or {} -- one frame less deep than there
    local name = info.name
    if info.namewhat == "method" then
        arg = arg - 1
        if arg == 0 then
            error(prefix .. "calling '" .. name .. "' on bad self (" .. msg .. ")", 0)
        end
    end
    name = name or "string." .. tostring(ENTRY[info.func])
    error(prefix .. "bad argument #" .. arg .. " to '" .. name .. "' (" .. msg .. ")", 0)
end

local function type_error(arg, expected, v, absent)
    local mt = getmetatable(v)
    local tname = mt and rawget(mt, "__name")
    if absent then
        tname = "no value"
    elseif type(tname) ~= "string" then
        tname = type(v)
    end
    arg_error(arg, expected .. " expected, got " .. tname)
end

-- luaL_checklstring and luaL_optinteger, with C's conversions.
local function check_str(v, arg, nargs)
    local t = type(v)
    if t == "string" then return v end
    if t == "number" then return tostring(v) end
    type_error(arg, "string", v, arg > nargs)
end

local function opt_int(v, arg)
    if v == nil or mtype(v) == "integer" then return v end
    local num = (type(v) == "number" or type(v) == "string") and tonumber(v)
    if num then
        return tointeger(num) or arg_error(arg, "number has no integer representation")
    end
    type_error(arg, "number", v, false)
end

-- ---- The matcher: lstrlib.c's match() and helpers, on 1-based positions ------------------------
-- ms: src, n (#src), items, level (captures), cinit/clen (capture start; length or CAP_*),
-- depth (C's matchdepth), top (for error locations). One per call: a gsub function may match
-- again, with its own.
local do_match

local function max_expand(ms, s, set, i)
    local src, n, j = ms.src, ms.n, s
    while j <= n and set[byte(src, j)] do j = j + 1 end
    while j >= s do
        local r = do_match(ms, j, i)
        if r then return r end
        j = j - 1
    end
end

local function min_expand(ms, s, set, i)
    local src, n = ms.src, ms.n
    while true do
        local r = do_match(ms, s, i)
        if r then return r end
        if s > n or not set[byte(src, s)] then return nil end
        s = s + 1
    end
end

local function start_capture(ms, s, i, what)
    local level = ms.level + 1
    if level > MAXCAPTURES then fail(ms, "too many captures") end
    ms.cinit[level], ms.clen[level], ms.level = s, what, level
    local r = do_match(ms, s, i)
    if r == nil then ms.level = ms.level - 1 end
    return r
end

local function end_capture(ms, s, i)
    local clen, l = ms.clen, ms.level
    while l > 0 and clen[l] ~= CAP_UNFINISHED do l = l - 1 end
    if l == 0 then fail(ms, "invalid pattern capture") end
    clen[l] = s - ms.cinit[l]
    local r = do_match(ms, s, i)
    if r == nil then clen[l] = CAP_UNFINISHED end
    return r
end

local function match_balance(ms, s, b, e)
    local src = ms.src
    if s > ms.n or byte(src, s) ~= b then return nil end
    local cont = 1
    for j = s + 1, ms.n do
        local c = byte(src, j)
        if c == e then
            cont = cont - 1
            if cont == 0 then return j + 1 end
        elseif c == b then
            cont = cont + 1
        end
    end
end

local function match_capture(ms, s, l)
    local len, src, init = ms.clen[l], ms.src, ms.cinit[l]
    if l < 1 or l > ms.level or len == CAP_UNFINISHED then
        fail(ms, "invalid capture index %" .. l)
    end
    if len == CAP_POSITION or ms.n - s + 1 < len then return nil end
    for k = 0, len - 1, 32 do -- in slices: each instruction pays for a bounded amount of C work
        local last = k + 31 < len and k + 31 or len - 1
        if sub(src, init + k, init + last) ~= sub(src, s + k, s + last) then return nil end
    end
    return s + len
end

do_match = function(ms, s, i)
    local depth = ms.depth
    if depth == 0 then fail(ms, "pattern too complex") end
    ms.depth = depth - 1
    local items, src, n = ms.items, ms.src, ms.n
    while s do
        local it = items[i]
        if it == nil then break end -- end of the pattern: a match
        local k = it.k
        if k == ONE then
            local set, q = it.set, it.q
            if s > n or not set[byte(src, s)] then
                if q == 0 or q == PLUS then s = nil else i = i + 1 end
            elseif q == 0 then
                s, i = s + 1, i + 1
            elseif q == OPT then
                local r = do_match(ms, s + 1, i + 1)
                if r then s = r break end
                i = i + 1
            elseif q == LAZY then
                s = min_expand(ms, s, set, i + 1)
                break
            else
                s = max_expand(ms, q == PLUS and s + 1 or s, set, i + 1)
                break
            end
        elseif k == OPEN or k == POS then
            s = start_capture(ms, s, i + 1, k == POS and CAP_POSITION or CAP_UNFINISHED)
            break
        elseif k == CLOSE then
            s = end_capture(ms, s, i + 1)
            break
        elseif k == EOS then
            if s ~= n + 1 then s = nil end
            break
        elseif k == BAL then
            s, i = match_balance(ms, s, it.b, it.e), i + 1
        elseif k == FRONT then
            local set = it.set
            if set[s > 1 and byte(src, s - 1) or 0] or not set[s <= n and byte(src, s) or 0] then
                s = nil
            end
            i = i + 1
        elseif k == BREF then
            s, i = match_capture(ms, s, it.l), i + 1
        else
            fail(ms, it.msg)
        end
    end
    ms.depth = depth
    return s
end

local function new_ms(src, items, top)
    return { src = src, n = #src, items = items, level = 0, cinit = {}, clen = {},
        depth = MAXCCALLS, top = top }
end

-- lstrlib's get_onecapture, for capture i (1-based) of the match [s, e).
local function get_capture(ms, i, s, e)
    if i > ms.level then
        if i ~= 1 then fail(ms, "invalid capture index %" .. i) end
        return sub(ms.src, s, e - 1)
    end
    local len, init = ms.clen[i], ms.cinit[i]
    if len == CAP_UNFINISHED then fail(ms, "unfinished capture") end
    if len == CAP_POSITION then return init end
    return sub(ms.src, init, init + len - 1)
end

-- push_captures: all captures, or the whole match if there are none and s is given. (Callers
-- unpack the list themselves: a tail call here would hide their frame from fail().)
local function captures(ms, s, e)
    local nl = (ms.level == 0 and s) and 1 or ms.level
    local t = {}
    for i = 1, nl do t[i] = get_capture(ms, i, s, e) end
    return t, nl
end

-- lstrlib's posrelatI: where a search starts (1-based), from init (negative: from the end).
local function start_of(init, len)
    if init == nil or init == 0 or init < -len then return 1 end
    return init > 0 and init or len + init + 1
end

-- ---- find, match, gmatch and gsub in Lua --------------------------------------------------------
-- Plain find: Knuth-Morris-Pratt, linear whatever the needle (lmemfind is not).
local function lua_plain(s, p, init)
    local ls, lp = #s, #p
    local i0 = start_of(init, ls)
    if i0 > ls + 1 or lp > ls - i0 + 1 then return nil end
    if lp == 0 then return i0, i0 - 1 end
    local pb, back, k = {}, { [1] = 0 }, 0
    for q = 1, lp do pb[q] = byte(p, q) end
    for q = 2, lp do
        local c = pb[q]
        while k > 0 and pb[k + 1] ~= c do k = back[k] end
        if pb[k + 1] == c then k = k + 1 end
        back[q] = k
    end
    k = 0
    for i = i0, ls do
        local c = byte(s, i)
        while k > 0 and pb[k + 1] ~= c do k = back[k] end
        if pb[k + 1] == c then
            k = k + 1
            if k == lp then return i - lp + 1, i end
        end
    end
    return nil
end

local function lua_search(s, p, init, find)
    local ls = #s
    local s1 = start_of(init, ls)
    if s1 > ls + 1 then return nil end
    local anchored = byte(p, 1) == 94
    local ms = new_ms(s, items_of(p, anchored), lua_search)
    repeat
        ms.level, ms.depth = 0, MAXCCALLS
        local e = do_match(ms, s1, 1)
        if e then
            local caps, nl = captures(ms, not find and s1, e)
            if find then return s1, e - 1, unpack(caps, 1, nl) end
            return unpack(caps, 1, nl)
        end
        s1 = s1 + 1
    until anchored or s1 > ls + 1
    return nil
end

local function lua_gmatch(s, p, init)
    local ls = #s
    local src, lastmatch = start_of(init, ls), nil
    if src > ls + 1 then src = ls + 2 end
    local ms = new_ms(s, items_of(p, false), nil)
    local function iter()
        for from = src, ls + 1 do
            ms.level, ms.depth = 0, MAXCCALLS
            local e = do_match(ms, from, 1)
            if e and e ~= lastmatch then
                src, lastmatch = e, e
                local caps, nl = captures(ms, from, e)
                return unpack(caps, 1, nl)
            end
        end
    end
    ms.top = iter
    return iter
end

-- Calls a function (or __index) from C, as C gsub does: yielding in it fails the same way
-- ("attempt to yield across a C-call boundary") whichever matcher runs.
local cb_fn, cb_args, cb_res
local function cb_run()
    local fn, args = cb_fn, cb_args
    cb_fn, cb_args = nil, nil
    cb_res = fn(unpack(args, 1, args.n))
end
local function call_in_c(fn, ...)
    cb_fn, cb_args = fn, pack(...)
    c_gsub(" ", " ", cb_run)
    local r = cb_res
    cb_res = nil
    return r
end
local function index(t, k) return t[k] end

-- lstrlib's add_s: a replacement string's text, %0-%9 and %%.
local function add_s(ms, out, no, news, s, e)
    local i = 1
    while true do
        local j = c_find(news, "%", i, true)
        if j == nil then break end
        local c = byte(news, j + 1)
        out[no + 1], no, i = sub(news, i, j - 1), no + 2, j + 2
        if c == 37 then
            out[no] = "%"
        elseif c == 48 then
            out[no] = sub(ms.src, s, e - 1)
        elseif c and c >= 49 and c <= 57 then
            out[no] = tostring(get_capture(ms, c - 48, s, e))
        else
            fail(ms, "invalid use of '%' in replacement string")
        end
    end
    out[no + 1] = sub(news, i)
    return no + 1
end

local function lua_gsub(s, p, repl, max_n)
    local ls = #s
    local anchored = byte(p, 1) == 94
    local ms = new_ms(s, items_of(p, anchored), lua_gsub)
    local tr = type(repl)
    if tr == "number" then repl, tr = tostring(repl), "string" end
    local meta = tr == "table" and getmetatable(repl) ~= nil
    local out, no, copied = {}, 0, 1 -- s[copied ..] is not in out yet
    local src, lastmatch, count = 1, nil, 0
    while count < (max_n or ls + 1) do
        ms.level, ms.depth = 0, MAXCCALLS
        local e = do_match(ms, src, 1)
        if e and e ~= lastmatch then
            count = count + 1
            if tr == "string" then
                out[no + 1] = sub(s, copied, src - 1)
                no, copied = add_s(ms, out, no + 1, repl, src, e), e
            else
                local v
                if tr == "function" then
                    local caps, nl = captures(ms, src, e)
                    v = call_in_c(repl, unpack(caps, 1, nl))
                elseif meta then
                    v = call_in_c(index, repl, get_capture(ms, 1, src, e))
                else
                    v = repl[get_capture(ms, 1, src, e)]
                end
                if v then -- nil or false keeps the match
                    local tv = type(v)
                    if tv ~= "string" and tv ~= "number" then
                        fail(ms, "invalid replacement value (a " .. tv .. ")")
                    end
                    out[no + 1], out[no + 2] = sub(s, copied, src - 1), tostring(v)
                    no, copied = no + 2, e
                end
            end
            src, lastmatch = e, e
        elseif src <= ls then
            src = src + 1
        else
            break
        end
        if anchored then break end
    end
    if no == 0 then return s, count end
    out[no + 1] = sub(s, copied)
    return concat(out), count
end

-- ---- What user code calls ---------------------------------------------------------------------
-- Fast path: a string subject within the pattern's cached limit and plain arguments go to C.
-- Otherwise the arguments are checked and converted as C does (same messages), the pattern is
-- analysed, and its limit decides. The lua = true variants (M.lua) always take the Lua matcher.

-- C gsub's "invalid replacement value" would not name the caller's line (level 1 is this file):
-- a replacement function (or table with a metatable) is wrapped to check its result here; a
-- plain table runs no Lua code, so C may run it in pcall and its error gets the line after.
local route_gsub, c_gsub_with
local function at_gsub(f) -- the frame below the caller of gsub
    return ENTRY[f] or f == route_gsub or f == c_gsub_with
end
local function checked(repl, tr)
    return function(...)
        local v
        if tr == "function" then v = repl(...) else v = repl[(...)] end
        if v and type(v) ~= "string" and type(v) ~= "number" then
            error(where_above(at_gsub) .. "invalid replacement value (a " .. type(v) .. ")", 0)
        end
        return v
    end
end
local function table_done(ok, ...)
    if ok then return ... end
    local e = ...
    if type(e) == "string" and c_find(e, "^invalid replacement value") then
        e = where_above(function(f) return f == table_done end) .. e
    end
    error(e, 0)
end
c_gsub_with = function(s, p, repl, tr, max_n)
    if tr == "table" and getmetatable(repl) == nil then
        return table_done(raw.pcall(c_gsub, s, p, repl, max_n))
    end
    return c_gsub(s, p, checked(repl, tr), max_n)
end

local function route_find(s, p, init, plain, find, lua)
    if find and (plain or c_find(p, SPECIALS) == nil) then
        if not lua and plain_ok(#s, #p) then
            charge_plain(#s, #p)
            return c_find(s, p, init, true)
        end
        return lua_plain(s, p, init)
    end
    if not lua and #s <= (MATCH[p] or analyse("match", p)) then
        charge(MATCHC[p], #s)
        return (find and c_find or c_match)(s, p, init)
    end
    return lua_search(s, p, init, find)
end

route_gsub = function(s, p, repl, max_n, lua)
    if not lua and #s <= (GSUB[p] or analyse("gsub", p)) then
        local tr = type(repl)
        local need = (tr == "function" or tr == "table" or tr == "number") and 0 or template(repl)
        if need <= 1 or need <= CAPS[p] then
            charge(GSUBC[p], #s)
            charge_repl(#s, repl)
            if tr == "function" or tr == "table" then
                return c_gsub_with(s, p, repl, tr, max_n)
            end
            return c_gsub(s, p, repl, max_n)
        end
    end
    return lua_gsub(s, p, repl, max_n)
end

local function make(lua)
    local F = {}
    function F.find(...)
        local s, p, init, plain = ...
        if not lua and type(s) == "string" and (init == nil or mtype(init) == "integer") then
            if not plain then
                local lim = FIND[p]
                if lim and #s <= lim then
                    charge_find(p, #s)
                    return c_find(s, p, init)
                end
            elseif type(p) == "string" then -- plain_ok, inline
                local ls, per = #s, #p + PLAIN_EXTRA
                if per <= PLAIN_PER_BYTE or (ls + 1) * per <= PLAIN_LIMIT + PLAIN_PER_BYTE * ls then
                    charge_plain(ls, #p)
                    return c_find(s, p, init, true)
                end
            end
        end
        local nargs = select("#", ...)
        s, p, init = check_str(s, 1, nargs), check_str(p, 2, nargs), opt_int(init, 3)
        if not plain and FIND[p] == nil then analyse("find", p) end
        return route_find(s, p, init, plain, true, lua)
    end
    function F.match(...)
        local s, p, init = ...
        if not lua and type(s) == "string" and (init == nil or mtype(init) == "integer") then
            local lim = MATCH[p]
            if lim and #s <= lim then
                charge(MATCHC[p], #s)
                return c_match(s, p, init)
            end
        end
        local nargs = select("#", ...)
        s, p, init = check_str(s, 1, nargs), check_str(p, 2, nargs), opt_int(init, 3)
        return route_find(s, p, init, false, false, lua)
    end
    function F.gmatch(...)
        local s, p, init = ...
        if not lua and type(s) == "string" and (init == nil or mtype(init) == "integer") then
            local lim = GMATCH[p]
            if lim and #s <= lim then
                charge(GMATCHC[p], #s)
                return c_gmatch(s, p, init)
            end
        end
        local nargs = select("#", ...)
        s, p, init = check_str(s, 1, nargs), check_str(p, 2, nargs), opt_int(init, 3)
        if not lua and #s <= (GMATCH[p] or analyse("gmatch", p)) then
            charge(GMATCHC[p], #s)
            return c_gmatch(s, p, init)
        end
        return lua_gmatch(s, p, init)
    end
    function F.gsub(...)
        local s, p, repl, max_n = ...
        if not lua and type(s) == "string" and (max_n == nil or mtype(max_n) == "integer") then
            local lim = GSUB[p]
            if lim and #s <= lim then
                local tr = type(repl)
                if tr == "string" then
                    local need = TEMPLATE[repl]
                    if need and (need <= 1 or need <= CAPS[p]) then
                        charge(GSUBC[p], #s)
                        charge_repl(#s, repl)
                        return c_gsub(s, p, repl, max_n)
                    end
                elseif tr == "number" then
                    charge(GSUBC[p], #s)
                    return c_gsub(s, p, repl, max_n)
                elseif tr == "function" or tr == "table" then
                    charge(GSUBC[p], #s)
                    return c_gsub_with(s, p, repl, tr, max_n)
                end
            end
        end
        local nargs = select("#", ...)
        -- argument 4 is checked before 3, as in C
        s, p, max_n = check_str(s, 1, nargs), check_str(p, 2, nargs), opt_int(max_n, 4)
        local tr = type(repl)
        if tr ~= "string" and tr ~= "number" and tr ~= "table" and tr ~= "function" then
            type_error(3, "string/function/table", repl, nargs < 3)
        end
        return route_gsub(s, p, repl, max_n, lua)
    end
    for name, fn in raw.next, F do ENTRY[fn] = name end
    return F
end

M.guarded, M.lua = make(false), make(true)

function M.route(fname, s, p, plain) -- "C" or "Lua" by the subject's length, for tests
    if fname == "find" and (plain or c_find(p, SPECIALS) == nil) then
        return plain_ok(#s, #p) and "C" or "Lua"
    end
    local cache = fname == "gsub" and GSUB or fname == "gmatch" and GMATCH or MATCH
    return #s <= (cache[p] or analyse(fname == "find" and "match" or fname, p)) and "C" or "Lua"
end
function M.cached()
    return cached
end
M.LIMIT, M.PER_BYTE, M.PLAIN_LIMIT = LIMIT, PER_BYTE, PLAIN_LIMIT

for name, fn in raw.next, M.guarded do sys.real_string[name] = fn end
sys.patterns = M
return M
