type Line = string

local M = {}

function M.line(sku: string, qty: integer, sub: number): Line
  return string.format("%s x%d = %.2f", sku, qty, sub)
end

function M.canonical(order: {id: string, items: {any}}): string
  local parts: {string} = {}
  for _, item in ipairs(order.items) do
    parts[#parts + 1] = (item as {sku: string}).sku
  end
  return order.id .. "|" .. table.concat(parts, ",")
end

return M
