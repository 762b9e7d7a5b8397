# Shared by the wrk benchmarks (sourced): the request scripts and one result row per run.
# Needs OUT (where results go) and SECS (seconds per run) set by the caller.

write_scripts() { # write_scripts DIR: decisions.lua and openrtb.lua, 2,000 random user keys each
cat >"$1/decisions.lua" <<'LUA'
local bodies = {}
local n = 0
init = function(args)
  -- The same 2,000 returning users in every run (and the warm-up): their identity, segment
  -- and cap lookups are cached as on a running server.
  math.randomseed(20261208)
  for i = 1, 2000 do
    local key = ""
    for _ = 1, 8 do key = key .. string.format("%08x", math.random(0, 0x7fffffff)) end
    bodies[i] = '{"user_key":"' .. key .. '","placements":[{"id":"search-top","count":3}],'
      .. '"context":{"keywords":["milk"],"page_type":"search","device":"mobile"}}'
  end
end
request = function()
  n = n % #bodies + 1
  return wrk.format("POST", "/v1/decisions", {["Content-Type"] = "application/json"}, bodies[n])
end
LUA
cat >"$1/openrtb.lua" <<'LUA'
local bodies = {}
local n = 0
init = function(args)
  -- The same 2,000 returning users in every run (and the warm-up): their identity, segment
  -- and cap lookups are cached as on a running server.
  math.randomseed(20261208)
  for i = 1, 2000 do
    local key = ""
    for _ = 1, 8 do key = key .. string.format("%08x", math.random(0, 0x7fffffff)) end
    bodies[i] = '{"id":"r' .. i .. '","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":0.5}],'
      .. '"user":{"buyeruid":"' .. key .. '"},"tmax":100}'
  end
end
request = function()
  n = n % #bodies + 1
  return wrk.format("POST", "/openrtb2/bid", {["Content-Type"] = "application/json"}, bodies[n])
end
LUA
}

ms() { # wrk latency text (e.g. 512.00us, 1.20ms, 2.00s) in ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
run() { # run NAME URL CONNECTIONS [SCRIPT]
  local name=$1 url=$2 c=$3 script=${4:-}
  local args=(-t1 -c"$c" -d"${SECS}s" --latency)
  [ -n "$script" ] && args+=(-s "$script")
  wrk "${args[@]}" "$url" >"$OUT/$name-c$c.txt" 2>&1
  local f="$OUT/$name-c$c.txt"
  local rps p50 p99 max non2xx
  rps=$(awk '/Requests\/sec/ {printf "%d", $2}' "$f")
  p50=$(ms "$(awk '$1 == "50%" {print $2}' "$f")")
  p99=$(ms "$(awk '$1 == "99%" {print $2}' "$f")")
  max=$(ms "$(awk '$1 == "Latency" {print $4; exit}' "$f")")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$f")
  printf '| %s | %s | %s | %s | %s | %s |%s\n' "$name" "$c" "$rps" "$p50" "$p99" "$max" "${non2xx:+ non-2xx: $non2xx}"
}

