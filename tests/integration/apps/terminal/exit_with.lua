-- `-x app:exit_with KIND`: returns what KIND says.
local function main(what)
  if what == "json" then return {ok = true, list = {1, 2}} end
  if what == "nil" then return nil end
  if what == "error" then return nil, errors.new({kind = errors.INVALID, message = "bad thing"}) end
  if what == "raise" then error("boom") end
  return tonumber(what)
end
return { main = main }
