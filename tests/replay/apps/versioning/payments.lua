-- Three payment implementations; each returns a receipt naming itself.
local function old(order)
    return {via = "old", order = order.id}
end

local function new(order)
    return {via = "new", order = order.id}
end

local function third(order)
    return {via = "third", order = order.id}
end

return { old = old, new = new, third = third }
