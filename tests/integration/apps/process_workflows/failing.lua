local function main()
  return nil, errors.new({kind = errors.NOT_FOUND, message = "no such order", retryable = false})
end
return { main = main }
