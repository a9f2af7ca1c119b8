-- moonflow per-run math.random / math.randomseed.
--
-- Several workflow runs share one Lua state, so the C math.random (one generator per state)
-- cannot give each run its own sequence. This is a pure-Lua copy of the generator of the Lua
-- 5.4.8 bundled in lupa.lua54 (lmathlib.c), value for value: recorded workflow histories depend
-- on the exact sequence, so any change here must keep tests/unit/lua/test_random.py passing.
--
--   * xoshiro256**, 64-bit words as Lua integers (wrap-around *, logical << and >>);
--   * seeding: state = {n1, 0xff, n2, 0}, then 16 outputs discarded;
--   * random(): float (rv >> 11) * 2^-53;
--   * random(0): the full 64-bit value as a (signed) integer;
--   * random(m), random(m, n): rv "projected" into [0, n - m] (unsigned): the smallest mask
--     2^b - 1 >= n - m is applied to rv, and while the result is still above n - m a new rv is
--     drawn (the low-bit variant used up to 5.4.8);
--   * like the C function, one value is drawn BEFORE the arguments are checked, so a call that
--     raises still advances the generator.
--
-- Loaded as a chunk with the standard library in its environment; returns R with
-- R.new(seed, on_noarg) -> random, randomseed (one private generator, seeded as
-- math.randomseed(seed) would be; randomseed() without arguments reseeds from on_noarg()).
local error, select, type, tonumber = error, select, type, tonumber
local mtype, tointeger, ult = math.type, math.tointeger, math.ult

local R = {}

-- luaL_checkinteger's conversions and messages. Errors use level 3: this helper, then the
-- random/randomseed function, then the caller whose line the message names (as luaL_error does).
-- (One difference: the real message names the function as its call site does, e.g. 'r' for a
-- local alias; here it is always 'random' / 'randomseed', what a math.random(...) call shows.
-- A __name metafield in the "got <type>" part is not honoured either.)
local function checkinteger(v, arg, fname)
    local n = v
    if type(v) == "string" then
        n = tonumber(v) -- "10", " 0x10 ", "1e1" convert as in the C API
    end
    if type(n) == "number" then
        local i = tointeger(n)
        if i then
            return i
        end
        error("bad argument #" .. arg .. " to '" .. fname .. "' (number has no integer representation)", 3)
    end
    error("bad argument #" .. arg .. " to '" .. fname .. "' (number expected, got " .. type(v) .. ")", 3)
end

function R.new(seed, on_noarg)
    -- The generator's four state words, kept as upvalues (no table, no allocation per draw).
    local s0, s1, s2, s3 = 0, 0, 0, 0

    -- xoshiro256**: returns the next 64-bit output and advances the state.
    local function nextrand()
        local r = s1 * 5
        r = ((r << 7) | (r >> 57)) * 9 -- rotl(s1 * 5, 7) * 9
        local t = s1 << 17
        s2 = s2 ~ s0
        s3 = s3 ~ s1
        s1 = s1 ~ s2
        s0 = s0 ~ s3
        s2 = s2 ~ t
        s3 = (s3 << 45) | (s3 >> 19) -- rotl(s3, 45)
        return r
    end

    local function setseed(n1, n2)
        s0, s1, s2, s3 = n1, 0xff, n2, 0 -- 0xff: the state is never all zero
        for _ = 1, 16 do
            nextrand() -- spread the seed over the whole state
        end
        return n1, n2
    end

    -- Uniform value in [0, n] (n unsigned) from rv: mask to the smallest 2^b - 1 >= n and
    -- retry with new draws while above n (so the result is unbiased).
    local function project(rv, n)
        if n & (n + 1) == 0 then -- n + 1 is a power of 2 (or n is all ones): no bias
            return rv & n
        end
        local lim = n
        lim = lim | (lim >> 1)
        lim = lim | (lim >> 2)
        lim = lim | (lim >> 4)
        lim = lim | (lim >> 8)
        lim = lim | (lim >> 16)
        lim = lim | (lim >> 32)
        rv = rv & lim
        while ult(n, rv) do
            rv = nextrand() & lim
        end
        return rv
    end

    local function random(...)
        local rv = nextrand() -- drawn first, as in C: even a call that raises consumes it
        local nargs = select("#", ...)
        local low, up
        if nargs == 0 then
            return (rv >> 11) * 0x1p-53 -- 53 random bits -> float in [0, 1)
        elseif nargs == 1 then
            low, up = 1, ...
            if mtype(up) ~= "integer" then
                up = checkinteger(up, 1, "random")
            end
            if up == 0 then
                return rv -- random(0): the whole 64-bit value
            end
        elseif nargs == 2 then
            low, up = ...
            if mtype(low) ~= "integer" then
                low = checkinteger(low, 1, "random")
            end
            if mtype(up) ~= "integer" then
                up = checkinteger(up, 2, "random")
            end
        else
            error("wrong number of arguments", 2)
        end
        if low > up then
            error("bad argument #1 to 'random' (interval is empty)", 2)
        end
        -- up - low and the final sum wrap around, i.e. unsigned arithmetic as in C.
        return project(rv, up - low) + low
    end

    -- math.randomseed(n1 [, n2]): returns the two seed components (5.4.4+); extra arguments
    -- are ignored, nil as n2 means 0, and nil as n1 is an error (only "no argument" reseeds).
    local function randomseed(...)
        local nargs = select("#", ...)
        if nargs == 0 then
            local n1 = on_noarg()
            if mtype(n1) ~= "integer" then
                n1 = checkinteger(n1, 1, "randomseed")
            end
            return setseed(n1, 0)
        end
        local n1, n2 = ...
        if mtype(n1) ~= "integer" then
            n1 = checkinteger(n1, 1, "randomseed")
        end
        if n2 == nil then
            n2 = 0
        elseif mtype(n2) ~= "integer" then
            n2 = checkinteger(n2, 2, "randomseed")
        end
        return setseed(n1, n2)
    end

    if mtype(seed) ~= "integer" then
        seed = checkinteger(seed, 1, "new")
    end
    setseed(seed, 0)
    return random, randomseed
end

return R
