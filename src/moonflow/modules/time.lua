-- The `time` module (workflows and activities).
--
-- Durations: a number is NANOSECONDS (use time.SECOND etc.), a string is a Go duration
-- ("30s", "1h30m", "250ms"), or a Duration object. Time values are UTC instants with
-- nanosecond precision. In workflow code time.now() is workflow time and time.sleep /
-- time.sleep_until are durable Temporal timers; in activities they read and block the real
-- clock.
--
-- Zero and negative durations (one rule for sleep, sleep_until, after, timer and
-- receive_timeout): a duration <= 0 is already expired. sleep returns at once, after/timer
-- deliver their value at once, receive_timeout only polls; no Temporal timer is created. The
-- decision depends only on workflow values, so a replay takes the same path.
--
-- Called with (sys), the run's private table, once per run. Everything that does not depend on
-- the run (constants, Time and Duration values and their methods, parsing) is built once per
-- Lua state by shared() below and reached through the module table's metatable: many runs
-- share a state, and an idle run should hold only what is its own (benchmark M2).
local run_sys = ...
local base = run_sys.base

local function shared(sys)
local raw = sys.raw
local host = sys.pure_host  -- parse_duration, format_duration, parse_time: pure functions
local dgetmt = raw.debug_getmetatable
if rawget(sys, "make_error") == nil then
    sys.module("errors")  -- the state's own errors instance, for errors raised from here
end

local M = {}
local Time = {}
-- A value's metatable is not its methods table: `t.__index` must not hand any run the
-- state-wide methods to rewire.
local TimeMT = { __index = Time, __metatable = false }
local Duration = {}
local DurationMT = { __index = Duration, __metatable = false }

local NS = 1
local US = 1000
local MS = 1000000
local S = 1000000000
M.NANOSECOND, M.MICROSECOND, M.MILLISECOND, M.SECOND = NS, US, MS, S
M.MINUTE = 60 * S
M.HOUR = 3600 * S

M.RFC3339 = "2006-01-02T15:04:05Z07:00"
M.RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00"
M.DATE_TIME = "2006-01-02 15:04:05"
M.DATE_ONLY = "2006-01-02"
M.TIME_ONLY = "15:04:05"
M.KITCHEN = "3:04PM"
local months = { "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST",
    "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER" }
for i, name in ipairs(months) do
    M[name] = i
end
local days = { "SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY" }
for i, name in ipairs(days) do
    M[name] = i - 1
end

local function is_time(v)
    return type(v) == "table" and dgetmt(v) == TimeMT
end
local function is_duration(v)
    return type(v) == "table" and dgetmt(v) == DurationMT
end
sys.kinds[TimeMT] = "time"  -- how values are recognised state-wide (convert.lua)
sys.kinds[DurationMT] = "duration"

local function new_time(ns)
    return raw.setmetatable({ _ns = ns }, TimeMT)
end
local function new_duration(ns)
    return raw.setmetatable({ _ns = ns }, DurationMT)
end

-- Parsed duration strings: a workflow names few distinct durations but may wait on them in a
-- loop, and each parse is a call into Python. Bounded, in case the texts are generated.
local parsed, parsed_count = {}, 0

-- Duration argument -> integer nanoseconds, or nil + message.
local function to_ns(d, what)
    if is_duration(d) then
        return d._ns
    end
    local t = type(d)
    if t == "number" then
        local i = math.tointeger(d)
        if i then
            return i
        end
        if d ~= d or d == math.huge or d == -math.huge then
            return nil, what .. ": duration must be a finite number"
        end
        return math.floor(d + 0.5)
    end
    if t == "string" then
        local ns = parsed[d]
        if ns then
            return ns
        end
        local err
        ns, err = host.parse_duration(d)
        if ns == nil then
            return nil, what .. ": " .. tostring(err)
        end
        if parsed_count < 256 and #d <= 64 then -- long texts are not kept: memory per state
            parsed[d] = ns
            parsed_count = parsed_count + 1
        end
        return ns
    end
    return nil, what .. ": expected a duration (\"30s\", a number of nanoseconds or a Duration), got " .. t
end

local function need_ns(d, what)
    local ns, err = to_ns(d, what)
    if ns == nil then
        -- error objects carry no position: name the caller's line in the message
        raw.error(sys.make_error("Invalid", sys.where(2) .. err, false), 3)  -- err names what
    end
    return ns
end

-- ---- Time ------------------------------------------------------------------------------
local function floor_div(a, b)
    return a // b, a % b
end

local function fraction(nsec)
    if nsec == 0 then
        return ""
    end
    local s = string.format("%09d", nsec):gsub("0+$", "")
    return "." .. s
end

function Time:format_rfc3339()
    local sec, nsec = floor_div(self._ns, S)
    return raw.os_date("!%Y-%m-%dT%H:%M:%S", sec) .. "Z"
end
function Time:format_rfc3339_nano()
    local sec, nsec = floor_div(self._ns, S)
    return raw.os_date("!%Y-%m-%dT%H:%M:%S", sec) .. fraction(nsec) .. "Z"
end

local go_layouts = {
    [M.RFC3339] = "!%Y-%m-%dT%H:%M:%SZ",
    [M.DATE_TIME] = "!%Y-%m-%d %H:%M:%S",
    [M.DATE_ONLY] = "!%Y-%m-%d",
    [M.TIME_ONLY] = "!%H:%M:%S",
}
function Time:format(layout)
    if layout == M.RFC3339NANO then
        return self:format_rfc3339_nano()
    end
    local f = go_layouts[layout]
    if f == nil then
        raw.error(sys.make_error("Invalid", "time format: unsupported layout " .. tostring(layout)
            .. "; use time.RFC3339, time.RFC3339NANO, time.DATE_TIME, time.DATE_ONLY or time.TIME_ONLY",
            false), 2)
    end
    return raw.os_date(f, self._ns // S)
end
function Time:unix()
    return self._ns // S
end
function Time:unix_nano()
    return self._ns
end
function Time:unix_milli()
    return self._ns // MS
end
function Time:add(d)
    return new_time(self._ns + need_ns(d, "time:add"))
end
-- t:sub(other_time) -> Duration; t:sub(duration) -> Time (convenience).
function Time:sub(x)
    if is_time(x) then
        return new_duration(self._ns - x._ns)
    end
    return new_time(self._ns - need_ns(x, "time:sub"))
end
function Time:before(o)
    return self._ns < o._ns
end
function Time:after(o)
    return self._ns > o._ns
end
function Time:equal(o)
    return self._ns == o._ns
end
function Time:is_zero()
    return self._ns == 0
end
function Time:utc()
    return self
end
local function parts(self)
    return raw.os_date("!*t", self._ns // S)
end
function Time:year() return parts(self).year end
function Time:month() return parts(self).month end
function Time:day() return parts(self).day end
function Time:hour() return parts(self).hour end
function Time:minute() return parts(self).min end
function Time:second() return parts(self).sec end
function Time:nanosecond() return self._ns % S end
function Time:weekday() return parts(self).wday - 1 end
function Time:year_day() return parts(self).yday end
function Time:date()
    local p = parts(self)
    return p.year, p.month, p.day
end
function Time:clock()
    local p = parts(self)
    return p.hour, p.min, p.sec
end
function Time:add_date(y, m, d)
    local p = parts(self)
    p.year, p.month, p.day = p.year + (y or 0), p.month + (m or 0), p.day + (d or 0)
    return M.date(p.year, p.month, p.day, p.hour, p.min, p.sec, self._ns % S)
end
TimeMT.__tostring = Time.format_rfc3339_nano
TimeMT.__eq = function(a, b)
    return is_time(a) and is_time(b) and a._ns == b._ns
end
TimeMT.__lt = function(a, b)
    return a._ns < b._ns
end
TimeMT.__le = function(a, b)
    return a._ns <= b._ns
end
TimeMT.__sub = function(a, b)
    return a:sub(b)
end
TimeMT.__add = function(a, b)
    if is_time(a) then
        return a:add(b)
    end
    return b:add(a)
end

-- ---- Duration ----------------------------------------------------------------------------
function Duration:nanoseconds() return self._ns end
function Duration:microseconds() return self._ns // US end
function Duration:milliseconds() return self._ns // MS end
function Duration:seconds() return self._ns / S end
function Duration:minutes() return self._ns / M.MINUTE end
function Duration:hours() return self._ns / M.HOUR end
function Duration:string() return host.format_duration(self._ns) end
DurationMT.__tostring = Duration.string
DurationMT.__eq = function(a, b)
    return is_duration(a) and is_duration(b) and a._ns == b._ns
end
DurationMT.__lt = function(a, b) return need_ns(a, "<") < need_ns(b, "<") end
DurationMT.__le = function(a, b) return need_ns(a, "<=") <= need_ns(b, "<=") end
DurationMT.__add = function(a, b) return new_duration(need_ns(a, "+") + need_ns(b, "+")) end
DurationMT.__sub = function(a, b) return new_duration(need_ns(a, "-") - need_ns(b, "-")) end
DurationMT.__unm = function(a) return new_duration(-a._ns) end

-- ---- module functions --------------------------------------------------------------------

function M.unix(sec, nsec)
    return new_time((math.tointeger(sec) or math.floor(sec)) * S + (nsec or 0))
end

function M.date(y, mo, d, h, mi, s, ns)
    local secs = sys.os_time_utc({ year = y, month = mo, day = d, hour = h or 0, min = mi or 0,
        sec = s or 0 })
    return new_time(secs * S + (ns or 0))
end

function M.parse_duration(v)
    local ns, err = to_ns(v, "time.parse_duration")
    if ns == nil then
        return nil, sys.make_error("Invalid", err, false)
    end
    return new_duration(ns)
end

-- time.parse(layout, value): RFC 3339 style layouts (value parsed by the host).
function M.parse(layout, value)
    local ns, err = host.parse_time(value)
    if ns == nil then
        return nil, sys.make_error("Invalid", err, false)
    end
    return new_time(ns)
end

-- ---- what a run has of its own -------------------------------------------------------------
-- A run's module table holds nothing at first: its now/sleep/sleep_until/after/timer/ticker
-- are made on first read (module_mt.__index), each closing over the run's private table, which
-- owner[] (weak keys: it goes with the module table; user code never sees it) gives. An idle
-- run that only sleeps holds its module table and one closure (benchmark M2).
local owner = raw.setmetatable({}, { __mode = "k" })

local function now_of(run)
    return new_time(run.host.now_ns())
end

-- Kernel runs (workflows, processes) wait through the kernel: a command their host completes
-- (a durable timer, or an asyncio timer in real time); activity code sleeps on its thread.
local function sleep_ns(run, ns)
    if ns <= 0 then
        return
    end
    if run.kernel ~= nil then
        run.yield_cmd({ op = "sleep", ns = ns })
    else
        run.host.sleep(ns)
    end
end

-- ---- timers as channels (workflow: durable Temporal timers that can be cancelled) --------
-- Built once per run on first use (time.after/timer/ticker, or channels: a receive_timeout
-- needs sys.start_timer, see install below), and kept in machinery[run] (weak keys).
local machinery = raw.setmetatable({}, { __mode = "k" })

-- ---- abandoned time.after timers (issue 17 item 13) ---------------------------------------
-- A select that returns with another case leaves its time.after channel behind. The rule, which
-- depends only on the order of workflow operations (never on garbage collection), so a replay
-- takes the same decisions:
--   * the after channel of a receive case of a select that returned with another case is
--     "abandoned" when that select is the first one it lost (channel.lua marks it through
--     sys.after_lost): an `after` written inline in a select's cases loses at most once;
--   * any later operation on it (a receive, a new case in a select, try_receive, ...) picks it
--     up again (sys.after_touch);
--   * when every task of the run waits (the kernel's run queue drained, K.on_blocked), each
--     channel still abandoned, with its timer pending and no task waiting on it, has its timer
--     cancelled (TimerCanceled in the history);
--   * should the code use such a channel after all, its timer is started again for what is
--     left until the original deadline (delivered at once if it has passed): receiving from a
--     stored after channel behaves as if its timer had never stopped.
-- A deadline kept across a loop of selects (`local limit = time.after("1h")` then
-- `select{msgs:case_receive(), limit:case_receive()}` in a loop) keeps its timer while the
-- loop goes straight back to the select; if the loop waits on something else after the first
-- message, the timer is cancelled once and started again by the next turn (to the same
-- deadline), and never again after that.
--
-- Runs started before this rule existed keep the old behaviour: the first cancellation a run
-- would make asks workflow.version(PATCH, -1, 1) (a patch marker in new runs; a replay of an
-- older history finds none and never cancels in that run). Processes have no history: they
-- always cancel.
local AFTER_PATCH = "moonflow.cancel_abandoned_after"

local function build(sys)
local host = sys.host
local in_workflow = sys.kernel ~= nil
local R = {}

-- A duration <= 0 is already expired: the value is delivered at once, no timer is created.
local function start_timer(ns, on_fire)
    if in_workflow then
        return sys.emit({ op = "timer", ns = ns }, on_fire)
    end
    raw.error(sys.make_error("Unavailable", "timers as channels need a workflow or a process; activity code can time.sleep", false), 3)
end
local function cancel_timer(tag)
    sys.forget(tag)
    sys.emit({ op = "cancel_timer", timer = tag })
end
local function now()
    return new_time(host.now_ns())
end

local cancel_allowed  -- nil until the run's first cancellation decides it
local lost = {}       -- abandoned after channels, in the order they were abandoned
local watching = false  -- cancel_abandoned is one of the kernel's on_blocked hooks

local function may_cancel()
    if cancel_allowed == nil then
        -- processes (sys.context "process") have no history to keep replaying
        cancel_allowed = sys.context ~= "workflow" or host.version(AFTER_PATCH, -1, 1) == 1
    end
    return cancel_allowed
end

local function arm_after(ch, ns)
    local t = ch._after
    t.state = "pending"
    t.tag = start_timer(ns, function()
        t.state = "fired"
        sys.channel_offer(ch, now())
    end)
end

local function cancel_abandoned()
    local list = lost
    lost = {}
    for i = 1, #list do
        local ch = list[i]
        local t = ch._after
        if t.lost and t.state == "pending" and not sys.channel_has_receiver(ch) and may_cancel() then
            cancel_timer(t.tag)
            t.state = "cancelled"
        end
        t.lost = false
    end
end

local function after_lost(ch)
    local t = ch._after
    t.losses = t.losses + 1
    if t.losses == 1 and t.state == "pending" then
        t.lost = true
        if not watching then
            watching = true
            local hooks = sys.kernel.on_blocked
            hooks[#hooks + 1] = cancel_abandoned
        end
        lost[#lost + 1] = ch
    end
end

local function after_touch(ch)
    local t = ch._after
    t.lost = false
    if t.state == "cancelled" then
        local left = t.deadline - host.now_ns()
        if left <= 0 then
            t.state = "fired"
            sys.channel_offer(ch, now())
        else
            arm_after(ch, left)
        end
    end
end

--- time.after(d) -> channel that receives the Time once d has passed. In workflows its timer
--- is cancelled once nobody receives from it any more (the rule above).
function R.after(d)
    local ns = need_ns(d, "time.after")
    local ch = sys.make_channel(sys, 1, "after")
    if ns <= 0 then
        sys.channel_offer(ch, now())
    elseif in_workflow then
        ch._after = { deadline = host.now_ns() + ns, lost = false, losses = 0 }
        arm_after(ch, ns)
    else
        start_timer(ns, function()
            sys.channel_offer(ch, now())
        end)
    end
    return ch
end

-- Timer and Ticker metatables are the run's own (their methods cancel the run's timers).
local function channel_of(self)
    return self._ch
end
-- :stop() -> true if the timer was pending (its Temporal timer is cancelled), else false.
local function stop_timer(self)
    if not self._active then
        return false
    end
    self._active = false
    cancel_timer(self._tag)
    return true
end

local Timer = { channel = channel_of, response = channel_of, stop = stop_timer, __metatable = false }
Timer.__index = Timer
local function arm(self, ns)
    self._active = true
    if ns <= 0 then
        self._active = false
        sys.channel_offer(self._ch, now())
        return
    end
    self._tag = start_timer(ns, function()
        self._active = false
        sys.channel_offer(self._ch, now())
    end)
end
function Timer:reset(d)
    local ns = need_ns(d, "timer:reset")
    local was = self:stop()
    arm(self, ns)
    return was
end

--- time.timer(d) -> Timer: :channel() / :response(), :stop() -> bool (true if it was
--- pending), :reset(d) -> bool. Stopping cancels the Temporal timer.
function R.timer(d)
    local ns = need_ns(d, "time.timer")
    local t = raw.setmetatable({ _ch = sys.make_channel(sys, 1, "timer") }, Timer)
    arm(t, ns)
    return t
end

local Ticker = { channel = channel_of, response = channel_of, stop = stop_timer, __metatable = false }
Ticker.__index = Ticker
-- Not data: sending or returning one fails naming its path (convert.lua `not_data`).
sys.not_data[Timer] = { "a timer", "send a Time or a Duration instead" }
sys.not_data[Ticker] = { "a ticker", "send a Time or a Duration instead" }

--- time.ticker(d) -> Ticker delivering the Time every d (a tick is dropped while the previous
--- one is unread, as in Go); :channel() / :response(), :stop(). d must be > 0.
function R.ticker(d)
    local ns = need_ns(d, "time.ticker")
    if ns <= 0 then
        raw.error(sys.make_error("Invalid", "time.ticker: duration must be > 0", false), 2)
    end
    local t = raw.setmetatable({ _ch = sys.make_channel(sys, 1, "ticker"), _ns = ns, _active = true }, Ticker)
    local function tick()
        if not t._active then
            return
        end
        sys.channel_offer(t._ch, now())
        t._tag = start_timer(t._ns, tick)
    end
    t._tag = start_timer(ns, tick)
    return t
end

-- What channel.lua calls (receive_timeout, selects on after channels).
sys.start_timer = start_timer
sys.cancel_timer = cancel_timer
sys.duration_ns_checked = need_ns
sys.after_lost = after_lost
sys.after_touch = after_touch
return R
end

-- The run's timer machinery (made on first use). Also called when a run that has this
-- state's time module loads its channel module (_run.py): channel.lua's receive_timeout finds
-- sys.start_timer there, or loads the time module when sys.duration_ns_checked is nil.
local function timers_of(run)
    local R = machinery[run]
    if R == nil then
        R = build(run)
        machinery[run] = R
    end
    return R
end

local run_fns = {
    now = function(run)
        return function()
            return now_of(run)
        end
    end,
    sleep = function(run)
        return function(d)
            sleep_ns(run, need_ns(d, "time.sleep"))
        end
    end,
    -- time.sleep_until(t): t is a Time, a number of Unix seconds or an RFC 3339 string.
    sleep_until = function(run)
        return function(t)
            local target
            if is_time(t) then
                target = t._ns
            elseif type(t) == "number" then
                target = math.floor(t * S)
            elseif type(t) == "string" then
                local ns, err = host.parse_time(t)
                if ns == nil then
                    raw.error(sys.make_error("Invalid", "time.sleep_until: " .. err, false), 2)
                end
                target = ns
            else
                raw.error(sys.make_error("Invalid",
                    "time.sleep_until: expected a Time, Unix seconds or an RFC 3339 string, got "
                    .. type(t), false), 2)
            end
            sleep_ns(run, target - run.host.now_ns())
        end
    end,
    after = function(run) return timers_of(run).after end,
    timer = function(run) return timers_of(run).timer end,
    ticker = function(run) return timers_of(run).ticker end,
}

local module_mt = {
    __index = function(mod, name)
        local v = M[name]
        if v == nil then
            local make, run = run_fns[name], owner[mod]
            if make ~= nil and run ~= nil then
                v = make(run)
                raw.rawset(mod, name, v)
            end
        end
        return v
    end,
    __metatable = false,
}

-- State-wide: what other modules reach through sys (convert.lua's sys.is_time and
-- sys.is_duration already recognise these values by their metatables).
sys.new_time = new_time
sys.duration_ns = to_ns
sys.time_channels = function(run)  -- _run.py, when a run loads its channel module
    timers_of(run)
end

return function(run)
    local mod = raw.setmetatable({}, module_mt)
    owner[mod] = run
    if raw.rawget(run, "new_channel") ~= nil then
        timers_of(run)  -- channels came first: receive_timeout needs the run's timers
    end
    return mod
end
end

local make = base.time_shared
if make == nil then
    make = shared(base)
    base.time_shared = make
end
return make(run_sys)
