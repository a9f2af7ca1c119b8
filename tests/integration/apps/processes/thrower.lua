-- An uncaught error on a known line (test_process_scenarios.py checks "thrower.lua:5").
local function main(what)
    local t = { what = what }
    if t.what then
        error("kaboom: " .. t.what)
    end
    return 1
end

return { main = main }
