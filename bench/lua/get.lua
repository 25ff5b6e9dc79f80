-- GET one path with a bearer token: args = token.
function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
end
