local time = require("time")
return { main = function(name, d) time.sleep(d) return "done " .. name end }
