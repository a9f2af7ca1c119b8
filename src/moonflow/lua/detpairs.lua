-- moonflow deterministic `pairs` and `next` for workflow code.
--
-- Loaded into a workflow state on its first traversal (sandbox.lua installs forwarding `pairs`
-- and `next` globals), called with (sys); it sets sys.det.pairs/next: versions whose order
-- depends only on the table's contents, never on the state's string-hash seed, which Lua 5.4
-- randomizes per state: a run and its replay in a fresh state or another process would
-- otherwise see different orders. Activity states keep the raw
-- functions. The raw ones stay reachable for runtime code as sys.raw.next / sys.raw.pairs.
--
-- Order: integer keys ascending, then float keys ascending, then string keys in byte order,
-- then false, then true, then every other key (tables, functions, coroutines, userdata) in the
-- raw `next` order. Such keys hash by address, so their order is NOT replay-safe: workflow code
-- must not let it decide which commands are issued.
--
-- Contract (as Lua's): next(t) is the first key, next(t, k) the key after k; pairs(t) honours
-- a __pairs metamethod; fields may be modified or cleared (set to nil) during a traversal, while
-- assigning new fields is undefined (here: they are not visited by a traversal already started).
--
-- Cost: a traversal snapshots t's sorted keys (O(n log n)) into a weak-keyed cache, and the
-- snapshot is reused by later traversals while t's key set is unchanged (checked by one raw scan,
-- O(n), no sort). pairs(t) walks its snapshot through a closure (one table read per step);
-- next(t, k) finds k through a key -> index map (O(1)). next(t) without a valid cached snapshot
-- scans for the smallest key (O(n), no allocation, so `next(t) == nil` stays cheap) and the
-- first next(t, k) after it takes the snapshot. A key missing from the snapshot (cleared, then a
-- nested traversal re-snapshotted) is located by binary search, or for keys of other types by
-- following the raw `next` chain. Snapshots count against the state's memory cap.
--
-- One liberty for speed: pairs reads t[key] directly when t has no __index metamethod at the
-- start of the traversal (a raw read then), and compares the key the generic for hands back
-- with ==, which is a raw comparison for the key it was given.
local sys = ...
local raw = sys.raw
if sys.context ~= "workflow" then
    return
end

local raw_next = raw.next
local rawget, type = rawget, type
local mtype = math.type
local sort, move = table.sort, table.move
local byte = string.byte
local error, pcall = raw.error, raw.pcall
local dgetmt, setmetatable = raw.debug_getmetatable, raw.setmetatable
local setlocale = raw.os_setlocale

-- String order must be byte order in every process. Lua's `<` on strings uses strcoll, which is
-- byte order under the C/POSIX collation (Python leaves LC_COLLATE at "C"); should the host
-- process switch the collation, sorting falls back to an explicit byte comparison.
local function bytes_lt(a, b)
    local la, lb = #a, #b
    local n = la < lb and la or lb
    for i = 1, n do
        local x, y = byte(a, i), byte(b, i)
        if x ~= y then
            return x < y
        end
    end
    return la < lb
end

local function str_lt_fn()
    local c = setlocale and setlocale(nil, "collate")
    if c == "C" or c == "POSIX" then
        return nil -- table.sort's default `<`
    end
    return bytes_lt
end

-- Rank of a key's class in the iteration order.
local function rank(k)
    local tk = type(k)
    if tk == "number" then
        return mtype(k) == "integer" and 1 or 2
    elseif tk == "string" then
        return 3
    elseif tk == "boolean" then
        return 4
    end
    return 5
end

-- a before b in the iteration order (keys of rank 5 are unordered among themselves).
local function before(a, b, str_lt)
    local ra, rb = rank(a), rank(b)
    if ra ~= rb then
        return ra < rb
    end
    if ra == 4 then
        return a == false and b == true
    elseif ra == 5 then
        return false
    elseif ra == 3 and str_lt then
        return str_lt(a, b)
    end
    return a < b
end

local function ascending(list, n)
    for i = 2, n do
        if list[i] < list[i - 1] then
            return false
        end
    end
    return true
end

-- The sorted array of t's keys.
local function snapshot(t)
    local ints, floats, strs, others = {}, nil, nil, nil
    local ni, nf, ns, no = 0, 0, 0, 0
    local has_false, has_true = false, false
    for k in raw_next, t do
        local tk = type(k)
        if tk == "string" then
            ns = ns + 1
            if strs == nil then
                strs = { k }
            else
                strs[ns] = k
            end
        elseif tk == "number" then
            if mtype(k) == "integer" then
                ni = ni + 1
                ints[ni] = k
            else
                nf = nf + 1
                if floats == nil then
                    floats = { k }
                else
                    floats[nf] = k
                end
            end
        elseif tk == "boolean" then
            if k then
                has_true = true
            else
                has_false = true
            end
        else
            no = no + 1
            if others == nil then
                others = { k }
            else
                others[no] = k
            end
        end
    end
    if ni > 1 and not ascending(ints, ni) then
        sort(ints)
    end
    if nf > 1 then
        sort(floats)
    end
    if ns > 1 then
        sort(strs, str_lt_fn())
    end
    -- Common shapes need no concatenation.
    if nf == 0 and ns == 0 and no == 0 and not has_false and not has_true then
        return ints
    end
    if ni == 0 and nf == 0 and no == 0 and not has_false and not has_true then
        return strs
    end
    local ks, n = ints, ni
    if nf > 0 then
        move(floats, 1, nf, n + 1, ks)
        n = n + nf
    end
    if ns > 0 then
        move(strs, 1, ns, n + 1, ks)
        n = n + ns
    end
    if has_false then
        n = n + 1
        ks[n] = false
    end
    if has_true then
        n = n + 1
        ks[n] = true
    end
    if no > 0 then
        move(others, 1, no, n + 1, ks)
    end
    return ks
end

-- The first key of t in the iteration order, found by one scan (no snapshot).
local function min_key(t)
    local best = raw_next(t)
    if best == nil then
        return nil
    end
    local brank = rank(best)
    local str_lt = nil
    local str_checked = false
    for k in raw_next, t, best do
        local r = rank(k)
        if r < brank then
            best, brank = k, r
        elseif r == brank and r < 5 then
            if r == 3 then
                if not str_checked then
                    str_lt, str_checked = str_lt_fn(), true
                end
                if str_lt then
                    if str_lt(k, best) then
                        best = k
                    end
                elseif k < best then
                    best = k
                end
            elseif r == 4 then
                if k == false then
                    best = k
                end
            elseif k < best then
                best = k
            end
        end
    end
    return best
end

-- Snapshots of traversed tables: t -> sorted keys; sorted keys -> key-to-index map (built on
-- first use). Weak keys: an entry goes with its table.
local cache = setmetatable({}, { __mode = "k" })
local index_of = setmetatable({}, { __mode = "k" })

local function index_map(ks)
    local idx = index_of[ks]
    if idx == nil then
        idx = {}
        for i = 1, #ks do
            idx[ks[i]] = i
        end
        index_of[ks] = idx
    end
    return idx
end

-- Does t hold exactly the keys of the snapshot ks (all with non-nil values)? One raw scan.
local function same_keys(t, ks)
    local idx = index_map(ks)
    local n = 0
    for k in raw_next, t do
        if idx[k] == nil then
            return false
        end
        n = n + 1
    end
    return n == #ks
end

-- A snapshot of t's current keys: the cached one while the key set is unchanged (a raw scan
-- instead of a sort), else a new one.
local function fresh(t)
    local ks = cache[t]
    if ks ~= nil and same_keys(t, ks) then
        return ks
    end
    ks = snapshot(t)
    cache[t] = ks
    return ks
end

-- Position in ks after which the traversal continues for a key k that ks does not hold.
local function locate(ks, t, k)
    local n = #ks
    if rank(k) < 5 then
        -- upper bound: the first index whose key comes after k
        local str_lt = type(k) == "string" and str_lt_fn() or nil
        local lo, hi = 1, n + 1
        while lo < hi do
            local mid = (lo + hi) // 2
            if before(k, ks[mid], str_lt) then
                hi = mid
            else
                lo = mid + 1
            end
        end
        return lo - 1
    end
    -- Keys of other types: follow the raw chain to the next such key the snapshot holds.
    local idx = index_map(ks)
    local ok, key = pcall(raw_next, t, k)
    if not ok then
        error("invalid key to 'next'", 3)
    end
    while key ~= nil do
        if rank(key) == 5 and idx[key] then
            return idx[key] - 1
        end
        key = raw_next(t, key)
    end
    return n
end

local function check_table(t, fname)
    if type(t) ~= "table" then
        error("bad argument #1 to '" .. fname .. "' (table expected, got " .. type(t) .. ")", 3)
    end
end

local function det_next(t, k)
    if type(t) ~= "table" then
        check_table(t, "next")
    end
    if k == nil then
        local ks = cache[t]
        if ks ~= nil and same_keys(t, ks) then
            local first = ks[1]
            if first == nil then
                return nil
            end
            return first, rawget(t, first)
        end
        cache[t] = nil -- a new traversal: the next step snapshots the current keys
        local first = min_key(t)
        if first == nil then
            return nil
        end
        return first, rawget(t, first)
    end
    local ks = cache[t]
    if ks == nil then
        ks = snapshot(t)
        cache[t] = ks
    end
    local i = (index_of[ks] or index_map(ks))[k]
    if i == nil then
        i = locate(ks, t, k)
    end
    i = i + 1
    local key = ks[i]
    while key ~= nil do
        local v = rawget(t, key)
        if v ~= nil then
            return key, v
        end
        i = i + 1
        key = ks[i]
    end
    return nil
end

local function det_pairs(t)
    local mt = dgetmt(t)
    if mt ~= nil then
        local handler = rawget(mt, "__pairs")
        if handler ~= nil then
            local f, s, c = handler(t)
            return f, s, c
        end
    end
    check_table(t, "pairs")
    local ks = fresh(t)
    -- Without a metatable t[key] is a raw read, and cheaper than a rawget call.
    local plain = mt == nil or rawget(mt, "__index") == nil
    local i, last = 0, nil
    local function iter(_, k)
        local j
        if k == nil then
            j = 1
        elseif k == last then -- the generic for passes back the key it was given
            j = i + 1
        else -- called by hand with another key: behave as next over this snapshot
            j = (index_map(ks)[k] or locate(ks, t, k)) + 1
        end
        local key = ks[j]
        while key ~= nil do
            local v
            if plain then
                v = t[key]
            else
                v = rawget(t, key)
            end
            if v ~= nil then
                i, last = j, key
                return key, v
            end
            j = j + 1
            key = ks[j]
        end
        i, last = j, nil
        return nil
    end
    return iter, t, nil
end

sys.det = {
    next = det_next,
    pairs = det_pairs,
    -- The keys of t in the deterministic order (a fresh array the caller may keep).
    sorted_keys = snapshot,
}
