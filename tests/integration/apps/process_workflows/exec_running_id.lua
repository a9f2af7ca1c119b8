-- exec with an explicit workflow.id that is already running: AlreadyExists, not a wait on
-- that other run; a spawn with the same id joins the running one.
local function main()
  local id = "fixed-" .. process.pid():gsub("[^%w]", "")
  local b = process.with_options({["workflow.id"] = id})
  local first = b:spawn("app:sleeper", "app:worker")
  local again = b:spawn("app:sleeper", "app:worker")
  local value, err = b:exec("app:sleeper", "app:worker")
  process.terminate(first)
  return {joined = again == first, value = value, kind = err and err:kind()}
end
return { main = main }
