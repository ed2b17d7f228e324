-- wrk script for the scale benchmark: each request goes to a path picked uniformly at random
-- from a file (one path per line), given after `--`:
--   wrk -t1 -c32 -d6s -s random_paths.lua http://127.0.0.1:PORT -- /path/to/paths.txt
local paths = {}

function init(args)
  local file = args[1]
  if file == nil then error("random_paths.lua: give the paths file after --") end
  for line in io.lines(file) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if #paths == 0 then error("random_paths.lua: no paths in " .. file) end
  math.randomseed(os.time())
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
