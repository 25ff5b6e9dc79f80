-- Cancel a different `request` interview each time. args = file of "token id" lines
-- (the `request` interviews of every user, shuffled; the warm-up gets a file of its own).
-- Past the end of the file it starts over, and those re-cancellations answer 409: the harness
-- compares the requests made with the lines given and says so when that happened.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local pairs_ = {}
local n = 0

function init(args)
  wrk.headers["Content-Type"] = "application/json"
  for _, line in ipairs(common.read_lines(args[1])) do
    local token, id = line:match("^(%S+)%s+(%S+)$")
    pairs_[#pairs_ + 1] = { token, id }
  end
end

function request()
  n = n + 1
  local p = pairs_[((n - 1) % #pairs_) + 1]
  return wrk.format("POST", "/api/v1/interviews/" .. p[2] .. "/transitions",
    { ["Authorization"] = "Bearer " .. p[1], ["Content-Type"] = "application/json" },
    '{"to": "cancelled", "reason": "benchmark"}')
end
