-- The `errors` module (a global; workflows and activities). Structured error values:
-- kind (string), message, retryable (true/false/nil = unspecified), details (any JSON-safe
-- value), cause (the wrapped error). Kind strings are the reference runtime's CamelCase values.
--
-- Called with (sys, kinds) where kinds maps constant names (NOT_FOUND...) to kind strings.
local sys, kinds = ...
local raw = sys.raw
local dgetmt = raw.debug_getmetatable

local M = {}
local Error = {}  -- methods; a value's metatable never hands them out (`e.__index`)
local ErrorMT = { __index = Error, __metatable = false }

for name, value in raw.next, kinds do
    M[name] = value
end

-- "TIMEOUT" and "Timeout" both mean kind Timeout (the seed writes errors.new("TIMEOUT", msg)).
local by_upper = {}
for name, value in raw.next, kinds do
    if value ~= "" then
        by_upper[name] = value
        by_upper[value:upper()] = value
    end
end
local function normalize_kind(kind)
    if kind == nil then
        return ""
    end
    if type(kind) ~= "string" then
        raw.error("errors: kind must be a string, got " .. type(kind), 3)
    end
    return by_upper[kind:upper()] or (kind:upper() == "UNKNOWN" and "" or kind)
end
sys.normalize_kind = normalize_kind

-- Any run's error (or the state's own, see time.lua) is an error: several instances of this
-- module live in one state, and they all register their metatable in sys.kinds.
local kinds_of = sys.kinds
local function is_error(v)
    return type(v) == "table" and kinds_of[dgetmt(v)] == "error"
end
sys.is_error = is_error
sys.kinds[ErrorMT] = "error"  -- how errors are recognised state-wide (convert.lua)
M.is_error = is_error

local function make(kind, message, retryable, details, cause)
    return raw.setmetatable({
        _kind = normalize_kind(kind),
        _message = sys.valid_text(message),
        _retryable = retryable,
        _details = details,
        _cause = cause,
    }, ErrorMT)
end
sys.make_error = make

--- errors.new("message") | errors.new(kind, "message"[, retryable[, details]]) | errors.new{kind=, message=, retryable=, details=}
function M.new(a, b, retryable, details)
    if type(a) == "table" and not is_error(a) then
        local message = a.message
        if message == nil then
            raw.error("errors.new: the table form needs a message field", 2)
        end
        local retryable = a.retryable
        if retryable ~= nil and type(retryable) ~= "boolean" then
            raw.error("errors.new: retryable must be a boolean or nil", 2)
        end
        return make(a.kind, tostring(message), retryable, a.details)
    end
    if is_error(a) then
        return a
    end
    if type(a) == "string" and type(b) == "string" then
        -- errors.new(kind, message[, retryable[, details]]), as the README documents
        if retryable ~= nil and type(retryable) ~= "boolean" then
            raw.error("errors.new: retryable must be a boolean or nil", 2)
        end
        return make(a, b, retryable, details)
    end
    if a == nil then
        raw.error("errors.new: expected a message string or a table {kind=, message=}", 2)
    end
    return make("", tostring(a))
end

--- errors.wrap(err, "context"): a new error "context: <err message>" keeping kind/retryable/details.
function M.wrap(err, context)
    if err == nil then
        return nil
    end
    if not is_error(err) then
        err = make("", tostring(err))
    end
    local message = context and (tostring(context) .. ": " .. err._message) or err._message
    return make(err._kind, message, err._retryable, err._details, err)
end

--- errors.is(err, kind) -> boolean: err or any error it wraps has that kind.
function M.is(err, kind)
    local want = normalize_kind(kind)
    while is_error(err) do
        if err._kind == want then
            return true
        end
        err = err._cause
    end
    return false
end

function M.unwrap(err)
    if is_error(err) then
        return err._cause
    end
    return nil
end

function M.call_stack(err)
    return nil
end

function Error:kind()
    return self._kind
end
function Error:message()
    return self._message
end
function Error:retryable()
    return self._retryable
end
function Error:details()
    return self._details
end
function Error:stack()
    return self._stack
end
function Error:unwrap()
    return self._cause
end
ErrorMT.__tostring = function(self)
    return self._message
end
ErrorMT.__concat = function(a, b)
    return tostring(a) .. tostring(b)
end
ErrorMT.__eq = function(a, b)
    return rawequal(a, b)
end

return M
