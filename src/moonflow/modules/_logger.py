"""The ``logger`` Lua module (workflows and activities), lua-api.md §2.11.

``require("logger")`` returns the root logger. Every logger offers, in method-call style
(``logger:info(...)``) or dot style (``logger.info(...)``):

* ``debug(msg, fields?)``, ``info(msg, fields?)``, ``warn(msg, fields?)``,
  ``error(msg, fields?)``: log ``msg`` (any value, converted with ``tostring``) with the
  logger's fields merged with ``fields`` (a map table; the call's fields win). Returns nothing.
* ``with(fields)`` -> ``logger, err``: a child logger carrying ``fields`` (a map table) on top
  of its parent's. A non-table gives ``nil, err`` (kind ``Invalid``).
* ``named(name)`` -> ``logger, err``: a child logger named ``name`` (appended to the parent's
  name with a dot: ``orders.payment``). The name appears as the field ``logger``. An empty or
  non-string name gives ``nil, err`` (kind ``Invalid``).

Records go to ``state.host.log(level, message, fields)`` with ``level`` one of ``"debug"``,
``"info"``, ``"warn"``, ``"error"`` and ``fields`` a Lua map table or nil. In workflows the host
logs through ``temporalio.workflow.logger``, which stays silent while a workflow replays, so a
line is written once per real execution.
"""

from __future__ import annotations

from typing import Any

_LOGGER_LUA = r"""
local sys, make_error = ...
local raw = sys.raw
local next, type, tostring, rawset, ipairs = next, type, tostring, rawset, ipairs
local utf8_len, format = utf8.len, string.format
local host = sys.host
local loggers = raw.setmetatable({}, { __mode = "k" })
local Logger = {}
Logger.__index = Logger
Logger.__metatable = false

local function copy_into(dst, src)
    for k, v in next, src do
        dst[k] = v
    end
    return dst
end

local function new(fields, name)
    local lg = raw.setmetatable({}, Logger)
    loggers[lg] = { fields = fields, name = name }
    return lg
end

local function emit(level, self_data, msg, fields)
    local merged = copy_into({}, self_data.fields)
    if fields ~= nil then
        if type(fields) == "table" then
            copy_into(merged, fields)
        else
            merged.fields = tostring(fields)
        end
    end
    if self_data.name ~= nil and merged.logger == nil then
        merged.logger = self_data.name
    end
    if next(merged) == nil then
        merged = nil
    end
    local text = tostring(msg)
    if not utf8_len(text) then -- binary text cannot cross into Python as a str
        text = text:gsub("[\128-\255]", function(c)
            return format("\\x%02X", c:byte())
        end)
    end
    raw.pcall(host.log, level, text, merged) -- logging never fails the caller
end

-- Functions are bound to the logger they are read from (see __index below), so both
-- logger:info(msg, f) and logger.info(msg, f) work: a first argument that is a logger is self.
local methods = {}
for _, level in ipairs({ "debug", "info", "warn", "error" }) do
    methods[level] = function(data)
        return function(a, b, c)
            if loggers[a] then
                emit(level, loggers[a], b, c)
            else
                emit(level, data, a, b)
            end
        end
    end
end

methods.with = function(data)
    return function(a, b)
        if loggers[a] then
            data, a = loggers[a], b
        end
        if a == nil then
            return new(data.fields, data.name)
        end
        if type(a) ~= "table" then
            local message = "logger:with: fields must be a table, got " .. type(a)
            return nil, make_error("Invalid", message, false)
        end
        return new(copy_into(copy_into({}, data.fields), a), data.name)
    end
end

methods.named = function(data)
    return function(a, b)
        if loggers[a] then
            data, a = loggers[a], b
        end
        if type(a) ~= "string" or a == "" then
            local message = "logger:named: name must be a non-empty string"
            return nil, make_error("Invalid", message, false)
        end
        local name = data.name and (data.name .. "." .. a) or a
        return new(data.fields, name)
    end
end

Logger.__index = function(lg, key)
    local m = methods[key]
    if m == nil then
        return nil
    end
    local fn = m(loggers[lg])
    rawset(lg, key, fn) -- cache the function bound to this logger
    return fn
end

return new({}, nil)
"""


def build(state: Any) -> Any:
    """Build the root logger for one Lua state (see the module docstring for the API)."""
    return state.load_lua_module(_LOGGER_LUA, "=moonflow/logger", state.sys, state.lua_make_error)
