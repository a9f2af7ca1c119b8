local hash = require("hash")
local base64 = require("base64")
local env = require("env")

local function charge(req)
  local region = env.get("REFERENCE_APP_REGION") or "local"
  local digest = hash.md5(req.id .. ":" .. tostring(req.total))
  return {ref = base64.url_encode(req.id .. "@" .. region), digest = digest}
end

return { charge = charge }
