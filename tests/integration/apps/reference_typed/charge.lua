local hash = require("hash")
local base64 = require("base64")
local env = require("env")

type Charge = {id: string, total: number}
interface Charged
  ref: string
  digest: string
end

local function charge(req: Charge): (Charged?, string?)
  local region: string = env.get("REFERENCE_APP_REGION") or "local"
  local digest = hash.md5(req.id .. ":" .. string(req.total))
  return {ref = base64.url_encode(req.id .. "@" .. region), digest = digest}
end

return { charge = charge }
