-- Shared by the scenarios: a bearer token and a list of ids read from files named in args.
local M = {}

function M.read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if #line > 0 then lines[#lines + 1] = line end
  end
  return lines
end

return M
