-- Its top level needs a module (Python's side of the process): still spawns, every time.
local json = require("json")
return { main = function(v) return json.encode({ v = v }) end }
