-- The order desk: a process that places orders and follows them to the end, the way an app of
-- the reference runtime drives its workflows from a process.
--
--   moonflow run examples/orders -x app:place_orders [COUNT]      (or: place-orders [COUNT])
--
-- It starts COUNT orders (default 2) plus one that the provider declines, each as an
-- order_workflow monitored by this process, prints a line per order as it starts and as it
-- ends (its EXIT event), and exits 0 when every order ended as expected, 1 otherwise.
local io = require("io")

local function order(n, customer)
    return {
        id = "desk-" .. n,
        customer_id = customer,
        total = 20 * n,
        items = {{sku = "MOON-LAMP", quantity = n, price = 20}},
        shipping_address = "12 Crater Road",
        fulfillment_window = "1s",
    }
end

local function main(count)
    count = math.tointeger(tonumber(count or "2")) or 2
    local orders = {}
    for n = 1, count do
        orders[#orders + 1] = {order = order(n, "cust-" .. n), expect = "completed"}
    end
    orders[#orders + 1] = {order = order(count + 1, "declined-" .. (count + 1)),
        expect = "payment_failed"}

    local events = process.events()
    local by_pid = {}
    for _, o in ipairs(orders) do
        local pid, err = process.spawn_monitored("app:order_workflow", "app:worker", o.order)
        if not pid then
            io.eprint("could not start " .. o.order.id .. ": " .. tostring(err))
            return 1
        end
        by_pid[pid] = o
        io.print("started " .. o.order.id .. " as " .. pid)
    end

    local unexpected = 0
    for _ = 1, #orders do
        local ev = events:receive()
        local o = by_pid[ev.from]
        local status = ev.error and ("error " .. tostring(ev.error)) or ev.result.status
        if status ~= o.expect then
            unexpected = unexpected + 1
        end
        io.print(o.order.id .. ": " .. status)
    end
    io.print(string.format("%d orders, %d as expected", #orders, #orders - unexpected))
    return unexpected == 0 and 0 or 1
end

return { main = main }
