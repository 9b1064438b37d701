-- mix.lua - a wrk script for desk serve: good completions (plain and
-- streamed) mixed with bad requests (broken JSON, wrong types, empty
-- messages, unknown routes). Good requests must all get 200 and bad ones a
-- 4xx; nothing may get a 5xx. Each wrk thread counts what it sent and got;
-- done() sums them and prints one line for tests/load.sh to check.
local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

local good = {
    wrk.format("POST", "/v1/completions", {["Content-Type"] = "application/json"},
               '{"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0.7, "seed": 3}'),
    wrk.format("POST", "/v1/completions", {["Content-Type"] = "application/json"},
               '{"prompt": "The market", "max_tokens": 4, "stream": true}'),
    wrk.format("GET", "/v1/models"),
}
local bad = {
    wrk.format("POST", "/v1/completions", nil, '{"prompt": '),
    wrk.format("POST", "/v1/completions", nil, '{"prompt": "x", "temperature": "hot"}'),
    wrk.format("POST", "/v1/chat/completions", nil, '{"messages": []}'),
    wrk.format("POST", "/v1/completions", nil, '{"prompt": "x", "n": 3}'),
    wrk.format("GET", "/v1/nothing"),
}

local i = 0
sent_good, sent_bad, got_2xx, got_4xx, got_5xx, got_other = 0, 0, 0, 0, 0, 0

function request()
    i = i + 1
    if i % 3 == 0 then
        sent_bad = sent_bad + 1
        return bad[math.floor(i / 3) % #bad + 1]
    end
    sent_good = sent_good + 1
    return good[i % #good + 1]
end

function response(status, headers, body)
    if status >= 200 and status < 300 then got_2xx = got_2xx + 1
    elseif status >= 400 and status < 500 then got_4xx = got_4xx + 1
    elseif status >= 500 then got_5xx = got_5xx + 1
    else got_other = got_other + 1 end
end

function done(summary, latency, requests)
    local t = {sent_good = 0, sent_bad = 0, got_2xx = 0, got_4xx = 0, got_5xx = 0, got_other = 0}
    for _, th in ipairs(threads) do
        for k, _ in pairs(t) do t[k] = t[k] + th:get(k) end
    end
    local e = summary.errors
    io.write(string.format("mix: sent_good=%d sent_bad=%d got_2xx=%d got_4xx=%d got_5xx=%d got_other=%d " ..
                           "connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
                           t.sent_good, t.sent_bad, t.got_2xx, t.got_4xx, t.got_5xx, t.got_other,
                           e.connect, e.read, e.write, e.timeout))
end
