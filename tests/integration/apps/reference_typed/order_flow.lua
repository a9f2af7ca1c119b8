local funcs = require("funcs")
local time = require("time")
local crypto = require("crypto")
local hash = require("hash")
local base64 = require("base64")
local uuid = require("uuid")
local fmt = require("fmt")

type Item = {sku: string, qty: integer, price: number}
type Order = {id: string, items: {Item}, coupon: string?}
interface Receipt
  id: string
  total: number
  lines: {string}
end

local function line_total(item: Item): number
  return item.qty * item.price
end

local function main(order: Order): (Receipt?, string?)
  runs = (runs or 0) + 1 -- a global never set reads nil, as in stock Lua
  local lines: {string} = {}
  local total: number = 0
  for _, item: Item in ipairs(order.items) do
    local sub = line_total(item)
    total = total + sub
    lines[#lines + 1] = fmt.line(item.sku, item.qty, sub)
  end
  local first: Item, second: Item? = unpack(order.items)
  local count = table.getn(order.items)

  local charged, err = funcs.call("app:charge", {id = order.id, total = total})
  if err then
    return nil, string(err)
  end
  local receipt = charged :: {ref: string, digest: string}

  time.sleep("1h") -- a durable timer: with the worker cache off, all of the above replays

  local key = crypto.random.bytes(32)
  local sealed = crypto.encrypt.aes(string(order.id), key)
  local opened = crypto.decrypt.aes(sealed, key)
  return {
    id = order.id,
    total = total,
    lines = lines,
    label = string(count) .. " items, first " .. first.sku .. ", then "
      .. (second and second.sku or "none"),
    ref = receipt.ref,
    digest = receipt.digest!,
    check = hash.sha256(fmt.canonical(order)),
    opened = opened,
    key_len = #key,
    sealed_b64_len = #base64.encode(sealed),
    id_version = uuid.version(uuid.v4()),
    runs = runs,
    three = integer("3"),
  }
end

return { main = main }
