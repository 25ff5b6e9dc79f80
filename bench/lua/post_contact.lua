-- POST a new contact each time: args = token.
local n = 0
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = string.format(
    '{"full_name": "Bench Contact %d", "email": "bench%d@example.net", '
      .. '"organization": "Acme", "career_field": "accounting", "tags": ["bench"]}',
    n, n)
  return wrk.format("POST", "/api/v1/contacts", nil, body)
end
