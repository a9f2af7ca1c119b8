local M = {}

function M.line(sku, qty, sub)
  return string.format("%s x%d = %.2f", sku, qty, sub)
end

function M.canonical(order)
  local parts = {}
  for _, item in ipairs(order.items) do
    parts[#parts + 1] = item.sku
  end
  return order.id .. "|" .. table.concat(parts, ",")
end

return M
