local funcs = require("funcs")
local time = require("time")
local crypto = require("crypto")
local hash = require("hash")
local base64 = require("base64")
local uuid = require("uuid")
local fmt = require("fmt")

local function line_total(item)
  return item.qty * item.price
end

local function main(order)
  runs = (runs or 0) + 1
  local lines = {}
  local total = 0
  for _, item in ipairs(order.items) do
    local sub = line_total(item)
    total = total + sub
    lines[#lines + 1] = fmt.line(item.sku, item.qty, sub)
  end
  local first, second = table.unpack(order.items)
  local count = #order.items

  local charged, err = funcs.call("app:charge", {id = order.id, total = total})
  if err then
    return nil, tostring(err)
  end
  local receipt = charged

  time.sleep("1h")

  local key = crypto.random.bytes(32)
  local sealed = crypto.encrypt.aes(tostring(order.id), key)
  local opened = crypto.decrypt.aes(sealed, key)
  return {
    id = order.id,
    total = total,
    lines = lines,
    label = tostring(count) .. " items, first " .. first.sku .. ", then "
      .. (second and second.sku or "none"),
    ref = receipt.ref,
    digest = receipt.digest,
    check = hash.sha256(fmt.canonical(order)),
    opened = opened,
    key_len = #key,
    sealed_b64_len = #base64.encode(sealed),
    id_version = uuid.version(uuid.v4()),
    runs = runs,
    three = math.tointeger(3),
  }
end

return { main = main }
