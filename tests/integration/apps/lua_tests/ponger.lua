local function main()
    local msg = process.inbox():receive()
    process.send(msg:payload():data().reply_to, "pong", { n = msg:payload():data().n + 1 })
    return "ponged"
end

return { main = main }
