-- wrk script for bench/*.sh: cycles through the paths listed in the file
-- $WRK_PATHS (one "path [etag]" a line). With WRK_COND=1 every request
-- carries If-None-Match: <etag> from the same line; with WRK_GZIP=1, every
-- request accepts gzip as cargo's do. Requests are formatted
-- once, at start-up, so the per-request Lua cost is one table lookup. Each
-- wrk thread starts at a different offset.
local list = os.getenv("WRK_PATHS")
local cond = os.getenv("WRK_COND") == "1"
local gz = os.getenv("WRK_GZIP") == "1"
local reqs = {}
local i = 0

function init(args)
	for line in io.lines(list) do
		local p, etag = line:match("^(%S+)%s*(.*)$")
		if p then
			local h = {}
			if cond then h["If-None-Match"] = etag end
			if gz then h["Accept-Encoding"] = "deflate, gzip" end
			reqs[#reqs + 1] = wrk.format("GET", p, h)
		end
	end
	i = math.random(#reqs) - 1
end

function request()
	i = i % #reqs + 1
	return reqs[i]
end

-- One line for bench/tail.sh: the latency distribution in microseconds.
function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("TAIL requests=%d rps=%.0f mean=%.0f sd=%.0f "
	    .. "p50=%d p90=%d p99=%d p999=%d max=%d errors=%d\n",
	    summary.requests, summary.requests / (summary.duration / 1e6),
	    latency.mean, latency.stdev, latency:percentile(50),
	    latency:percentile(90), latency:percentile(99),
	    latency:percentile(99.9), latency.max,
	    e.connect + e.read + e.write + e.status + e.timeout))
end
