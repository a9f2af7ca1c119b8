local function main()
  local value, err = process.exec("app:failing", "app:worker")
  return {value = value, kind = err:kind(), message = err:message(), retryable = err:retryable()}
end
return { main = main }
