-- The process node's scheduler: the Lua half of moonflow/process/_node.py.
--
-- Every process of a node is a kernel run (lua/kernel.lua) in the node's one Lua state. A step
-- of a process (K.run: resume its tasks until each waits) used to be one Python callback on the
-- event loop; a message between two local processes was a command the sender yielded to Python,
-- converted to Python and back into the receiver's run. Here both stay in Lua:
--   * N.send copies a message's values (convert.lua sys.copy_values: the exact result of the
--     conversion rules, no table shared between runs) into the receiver's mailbox and marks the
--     receiver ready;
--   * N.pump runs ready processes one step each, in FIFO order, and hands Python only the steps
--     it must act on (commands to issue, an end, a possible deadlock).
-- A ping-pong between two processes then runs without leaving Lua (benchmark P2); Python feeds
-- what arrives from outside (completions, events, messages from workflows) before each pump.
--
-- Called once per node state with the state's sys; returns the scheduler N (sys.node).
local sys = ...
local raw = sys.raw
local gc = raw.collectgarbage
local next = raw.next
local pcall = raw.pcall
local rawget = raw.rawget
local copy_values = sys.copy_values
local os_clock = raw.os_clock

local N = {}

local procs = {}                  -- pid -> kernel instance of a live process of the node
local queued = {}                 -- pid -> true while the pid is in the ready queue
local ready, head, tail = {}, 1, 0
local current = nil               -- the pid the pump is stepping (N.interrupted)

-- A process joins the node once its run is started (Process.start), ready for its first
-- step ...
function N.add(pid, kernel)
    procs[pid] = kernel
    queued[pid] = true
    tail = tail + 1
    ready[tail] = pid
end

-- ... and leaves when it exits: messages to it then take the Python path (NotFound there).
function N.remove(pid)
    procs[pid] = nil
    queued[pid] = nil             -- a queued entry is skipped
end

-- Mark a process ready: it steps in the next pump (once, however often it is woken).
function N.wake(pid)
    if not queued[pid] and procs[pid] ~= nil then
        queued[pid] = true
        tail = tail + 1
        ready[tail] = pid
    end
end

-- A message to a local process, from a process step: delivered here when the receiver is a
-- live process of this node and every value can be copied exactly; false: take the Python
-- path (another node's or a workflow's PID, a value the copier leaves to the conversion rules,
-- a message to itself, a sender that has ended inside its step). The caller takes the Python
-- path for every message while one of its earlier ones is still on it (process.lua M.send):
-- the Python path delivers before the sender's next step, so per-sender order holds.
function N.send(pid, topic, values, from)
    local kernel = procs[pid]
    -- The receiver's mailbox is its process module's: one that never used `process` has none
    -- yet, and making it from here would load a module of its run inside this run's step
    -- (Python code running inside another run's coroutine): the Python path does it between
    -- steps. A message to itself waits for a new step, as it always has (a loop continued by
    -- messages to itself is many steps, each under the step's budget).
    if kernel == nil or pid == from or procs[from] == nil
        or rawget(kernel, "listening") == nil then
        return false
    end
    local copy = copy_values(values)
    if copy == nil then
        return false
    end
    kernel.deliver(topic, copy, from)
    N.wake(pid)
    return true
end

local function renew()
    ready, queued = {}, {}
end

-- The reports of a pump, made once and written in place (the pump allocates nothing of its
-- own while the memory cap is armed: a report lost to an out-of-memory error would leave its
-- process's commands unissued).
local reports, reports_size, reported = {}, 0, 0
local written = 0                 -- reports[1 .. written] of the pump under way (N.interrupted)

-- Run ready processes one step each until none is ready, `max_steps` steps have run, the pump
-- has taken `slice` seconds of CPU (the event loop's timers and I/O wait meanwhile), or the
-- state has grown by more than `slack_kb` KiB since the pump began (Python armed the memory
-- cap with that much room above one step's allowance: every step starts with at least its
-- allowance). A process whose step ends it leaves `procs` at once: no further step of it, and
-- a message to it takes the Python path, where its end (reported first) is already known.
-- Returns the steps Python must see, flat in `reports[1 .. n]`: pid, status, commands, pid,
-- ...; then n, and whether processes are still ready. A step that ends "blocked" with no
-- command while the process reads messages is left out: nothing to do until its input
-- arrives.
function N.pump(max_steps, slice, slack_kb)
    if reports_size < 3 * max_steps then
        for i = reports_size + 1, 3 * max_steps do
            reports[i] = false
        end
        reports_size = 3 * max_steps
    end
    for i = 1, reported do
        reports[i] = false  -- the last pump's: its command tables are garbage once issued
    end
    local n = 0
    written = 0
    local start_kb = gc("count")
    local start_s = os_clock()
    local steps = 0
    while head <= tail do
        local pid = ready[head]
        ready[head] = nil
        head = head + 1
        if queued[pid] then
            queued[pid] = nil
            local kernel = procs[pid]
            current = pid
            -- K.run allocates outside the process's tasks too: out of memory there (or a bug
            -- of ours) ends this process, not the pump (the others go on); Python reads the
            -- message as the commands ("internal").
            local ok, status, out = pcall(kernel.run)
            if not ok then
                status, out = "internal", raw.tostring(status)
            end
            steps = steps + 1
            -- A blocked process that reads no messages may be deadlocked: Python knows whether
            -- a timer or a call of its is pending (a process waiting for messages never is).
            if status ~= "blocked" then
                procs[pid] = nil  -- it has ended: no step or local message reaches it any more
                reports[n + 1], reports[n + 2], reports[n + 3] = pid, status, out
                n = n + 3
            elseif out[1] ~= nil or not kernel.listening() then
                reports[n + 1], reports[n + 2], reports[n + 3] = pid, status, out
                n = n + 3
            end
            written = n
            current = nil
            if steps >= max_steps or os_clock() - start_s > slice
                or gc("count") - start_kb > slack_kb then
                break
            end
        end
    end
    if head > tail then
        -- every entry was taken: start over, with fresh tables after a long queue (a table
        -- keeps the size of its longest use); without them if memory is short
        if tail > 256 then
            pcall(renew)
        end
        head, tail = 1, 0
    end
    reported = n
    return reports, n, head <= tail
end

-- After a pump that failed (out of memory in the pump itself, past the step's own checks):
-- the pid whose step it was running, or nil (Python ends that process), and the reports of
-- the steps before it (Python acts on them as on a pump's). The pump can run again.
function N.interrupted()
    local pid = current
    current = nil
    reported = written
    return pid, reports, written
end

return N
