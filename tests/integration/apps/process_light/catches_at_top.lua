-- Its top level needs a module inside a coroutine it resumes itself (and would see a failure
-- there as a value): it must get the module, every time.
local ok, json = coroutine.resume(coroutine.create(function() return require("json") end))
return { main = function() return tostring(ok) .. " " .. type(json) end }
