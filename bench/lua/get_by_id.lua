-- GET a path template with a random id from a list: args = token, ids file, path prefix.
package.path = package.path .. ";" .. os.getenv("BENCH_LUA_DIR") .. "/?.lua"
local common = require("common")
local ids, prefix

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  ids = common.read_lines(args[2])
  prefix = args[3]
  math.randomseed(os.time())
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
