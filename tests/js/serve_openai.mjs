// serve_openai.mjs - `desk serve` driven by the official OpenAI client (npm
// `openai`) and by raw HTTP: completions streamed and not, the models list,
// error objects and statuses, API keys, concurrency (16 clients at once get
// exactly what each gets alone), a client that vanishes mid-stream, and
// agreement with `desk run` for the same prompt and seed.
//
// usage: node serve_openai.mjs DESK_BINARY MODEL.gguf PORT [chatml]
//        (chatml: the model has a ChatML chat template; test the chat endpoint)
import OpenAI from "openai";
import Ajv from "ajv";
import { spawn, execFileSync } from "node:child_process";
import net from "node:net";

const [desk, model, portArg, chatArg] = process.argv.slice(2);
const port = Number(portArg);
let pass = 0, fail = 0;
function check(cond, what) {
    if (cond) pass++;
    else { fail++; console.error("FAIL " + what); }
}

async function start(extra, p) {
    const proc = spawn(desk, ["serve", "-m", model, "--port", String(p), "-t", "2", "--parallel", "4", "-c", "256",
                              "--queue", "32", ...extra], { stdio: ["ignore", "ignore", "pipe"] });
    let log = "";
    proc.stderr.on("data", (d) => { log += d; });
    for (let i = 0; i < 100; i++) {
        try {
            const r = await fetch(`http://127.0.0.1:${p}/health`);
            if (r.ok) return { proc, log: () => log };
        } catch { /* not up yet */ }
        await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill("SIGKILL");
    throw new Error("desk serve did not start: " + log);
}

async function stop(srv) {
    const done = new Promise((r) => srv.proc.on("exit", (code, sig) => r({ code, sig })));
    srv.proc.kill("SIGTERM");
    return done;
}

function deskRun(prompt, n, sampling) {
    const out = execFileSync(desk, ["run", "-m", model, "-p", prompt, "-n", String(n), "-t", "2", ...sampling],
                             { stdio: ["ignore", "pipe", "ignore"] }).toString();
    return out.endsWith("\n") ? out.slice(0, -1) : out;
}

const base = `http://127.0.0.1:${port}`;
async function expectError(p, status, what) {
    try {
        await p;
        check(false, what + ": no error");
    } catch (e) {
        check(e.status === status && e.error && typeof e.error.message === "string", `${what}: status ${e.status}, wanted ${status}`);
        return e;
    }
}
const srv = await start([], port);
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "unused", maxRetries: 0 });
const id = model.split("/").pop();
try {
    // models
    const models = await client.models.list();
    check(models.data.length === 1 && models.data[0].id === id, "models.list names the served file");

    // greedy completion equals desk run
    const prompt = "Once upon a time";
    const c1 = await client.completions.create({ model: id, prompt, max_tokens: 24, temperature: 0 });
    const want = deskRun(prompt, 24, ["--temp", "0"]);
    check(c1.choices[0].text === want, `greedy completion equals desk run: ${JSON.stringify(c1.choices[0].text)} vs ${JSON.stringify(want)}`);
    check(c1.object === "text_completion" && c1.choices[0].finish_reason === "length", "finish_reason length");
    check(c1.usage.completion_tokens === 24 && c1.usage.total_tokens === c1.usage.prompt_tokens + 24, "usage counts");
    const ids = execFileSync(desk, ["tokenize", "-m", model, "-p", prompt, "--ids"]).toString().trim().split(/[\s,\[\]]+/).filter(Boolean);
    check(c1.usage.prompt_tokens === ids.length, `prompt_tokens ${c1.usage.prompt_tokens} = desk tokenize's ${ids.length}`);

    // sampled completion with a seed equals desk run with the same settings
    const samp = { temperature: 0.8, top_p: 0.9, seed: 42 };
    const c2 = await client.completions.create({ model: id, prompt, max_tokens: 32, ...samp });
    const want2 = deskRun(prompt, 32, ["--temp", "0.8", "--top-p", "0.9", "--top-k", "0", "--min-p", "0", "--seed", "42"]);
    check(c2.choices[0].text === want2, "seeded sampling equals desk run with the same seed");

    // streaming: the deltas add up to the non-streamed text; usage chunk last
    const stream = await client.completions.create({ model: id, prompt, max_tokens: 24, temperature: 0, stream: true,
                                                     stream_options: { include_usage: true } });
    let text = "", finish = null, usage = null, chunks = 0;
    for await (const ch of stream) {
        chunks++;
        if (ch.choices.length) {
            text += ch.choices[0].text;
            if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
        }
        if (ch.usage) usage = ch.usage;
    }
    check(text === c1.choices[0].text && finish === "length" && chunks > 3, "streamed text equals the non-streamed text");
    check(usage && usage.completion_tokens === 24, "stream_options.include_usage sends the usage");

    // stop strings end the text before the stop, which never appears
    const full = c1.choices[0].text;
    const stopWord = full.slice(Math.floor(full.length / 3), Math.floor(full.length / 3) + 3);
    const c3 = await client.completions.create({ model: id, prompt, max_tokens: 24, temperature: 0, stop: [stopWord, "zzzz"] });
    check(c3.choices[0].finish_reason === "stop" && !c3.choices[0].text.includes(stopWord) &&
          full.startsWith(c3.choices[0].text), `stop string '${stopWord}' cut the text: ${JSON.stringify(c3.choices[0].text)}`);
    const s3 = await client.completions.create({ model: id, prompt, max_tokens: 24, temperature: 0, stop: stopWord, stream: true });
    let t3 = "";
    for await (const ch of s3) if (ch.choices.length) t3 += ch.choices[0].text;
    check(t3 === c3.choices[0].text, "a streamed stop never leaks the stop text");

    // log-probabilities (completions): one entry per token, the tokens spell the text, streamed = not streamed
    const lpReq = { model: id, prompt, max_tokens: 16, temperature: 0.9, seed: 9, logprobs: 3 };
    const l1 = (await client.completions.create(lpReq)).choices[0];
    const L = l1.logprobs;
    check(L && L.tokens.length === 16 && L.token_logprobs.length === 16 && L.top_logprobs.length === 16 &&
          L.text_offset.length === 16, "completions logprobs: one entry per generated token");
    check(L.tokens.join("") === l1.text, "the logprobs tokens spell the text");
    let offOk = true, lpOk = true, at = 0;
    for (let i = 0; i < 16; i++) {
        offOk &&= L.text_offset[i] === at;
        at += Buffer.byteLength(L.tokens[i]);
        const alts = Object.values(L.top_logprobs[i]);
        lpOk &&= L.token_logprobs[i] <= 0 && alts.length >= 1 && alts.length <= 3 && alts.every((v) => v <= 0) &&
                 L.token_logprobs[i] <= Math.max(...alts) + 1e-6 && alts.reduce((a, v) => a + Math.exp(v), 0) <= 1 + 1e-5;
    }
    check(offOk, "text_offset counts the bytes before each token");
    check(lpOk, "logprobs are <= 0, alternatives at most 3 with mass <= 1, none below the chosen token's when it is not among them");
    const ls = await client.completions.create({ ...lpReq, stream: true });
    const sl = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    for await (const ch of ls)
        if (ch.choices.length && ch.choices[0].logprobs) for (const k in sl) sl[k].push(...ch.choices[0].logprobs[k]);
    check(JSON.stringify(sl) === JSON.stringify(L), "streamed logprobs equal the non-streamed ones");
    const lg = (await client.completions.create({ model: id, prompt, max_tokens: 8, temperature: 0, logprobs: 2 })).choices[0].logprobs;
    let greedyOk = lg.tokens.length === 8;
    for (let i = 0; i < lg.tokens.length; i++) {
        const best = Math.max(...Object.values(lg.top_logprobs[i]));
        greedyOk &&= lg.top_logprobs[i][lg.tokens[i]] === lg.token_logprobs[i] && lg.token_logprobs[i] === best;
    }
    check(greedyOk, "greedy: the chosen token is the most likely alternative, with the same logprob");
    const lstop = (await client.completions.create({ model: id, prompt, max_tokens: 24, temperature: 0, stop: stopWord, logprobs: 0 })).choices[0];
    check(lstop.logprobs.tokens.join("").startsWith(lstop.text) && lstop.logprobs.tokens.join("").length < lstop.text.length + 8 &&
          lstop.logprobs.top_logprobs.every((t) => Object.keys(t).length === 0), "a stop string drops the logprobs of the stop text; logprobs 0 has no alternatives");
    await expectError(client.completions.create({ model: id, prompt, logprobs: 21 }), 400, "logprobs above 20");
    await expectError(client.completions.create({ model: id, prompt, logprobs: true }), 400, "completions logprobs must be a count");
    await expectError(client.completions.create({ model: id, prompt, top_logprobs: 2 }), 400, "top_logprobs is a chat parameter");

    // structured output: response_format json_schema / json_object on both endpoints, streamed and not
    const schema = { type: "object", additionalProperties: false, required: ["ticker", "sentiment", "score"],
                     properties: { ticker: { type: "string", pattern: "^[A-Z]{1,5}$" }, sentiment: { enum: ["positive", "negative", "neutral"] },
                                   score: { type: "number", minimum: -1, maximum: 1 } } };
    const validate = new Ajv().compile(schema);
    const rf = { type: "json_schema", json_schema: { name: "sentiment", schema, strict: true } };
    let valid = 0;
    for (let seed = 1; seed <= 6; seed++) {
        const c = await client.completions.create({ model: id, prompt, max_tokens: 300, temperature: 1, seed, response_format: rf });
        let ok = false;
        try { ok = validate(JSON.parse(c.choices[0].text)) && c.choices[0].finish_reason === "stop"; } catch { ok = false; }
        valid += ok;
    }
    check(valid === 6, `response_format json_schema: ${valid}/6 completions validate (ajv) and stop by themselves`);
    const sj = await client.completions.create({ model: id, prompt, max_tokens: 300, temperature: 1, seed: 3, response_format: rf, stream: true });
    let sjt = "";
    for await (const ch of sj) if (ch.choices.length) sjt += ch.choices[0].text;
    const nj = await client.completions.create({ model: id, prompt, max_tokens: 300, temperature: 1, seed: 3, response_format: rf });
    check(sjt === nj.choices[0].text, "a streamed constrained completion equals the non-streamed one");
    const jo = await client.completions.create({ model: id, prompt, max_tokens: 200, temperature: 0.7, seed: 2, response_format: { type: "json_object" } });
    let isObj = false;
    try { const v = JSON.parse(jo.choices[0].text); isObj = typeof v === "object" && v !== null && !Array.isArray(v); } catch { isObj = jo.choices[0].finish_reason === "length"; }
    check(isObj, `response_format json_object gives a JSON object: ${JSON.stringify(jo.choices[0].text).slice(0, 80)}`);
    const bad = await expectError(client.completions.create({ model: id, prompt, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { n: { type: "integer", multipleOf: 3 } } } } } }), 400, "a schema desk cannot enforce");
    check(bad && bad.param === "response_format" && /multipleOf/.test(bad.error.message) && /\/properties\/n/.test(bad.error.message),
          `the refusal names the keyword and its path: ${bad && bad.error.message}`);
    await expectError(client.completions.create({ model: id, prompt, response_format: { type: "yaml" } }), 400, "an unknown response_format type");

    // 16 clients at once get what each gets alone
    const reqs = Array.from({ length: 16 }, (_, i) => ({ model: id, prompt: `${prompt} ${"and then ".repeat(i % 5)}${i}`,
                                                         max_tokens: 12 + (i % 7), temperature: i % 3 ? 0.9 : 0, seed: 100 + i }));
    const alone = [];
    for (const r of reqs) alone.push((await client.completions.create(r)).choices[0].text);
    const together = await Promise.all(reqs.map((r, i) => i % 2
        ? client.completions.create(r).then((c) => c.choices[0].text)
        : client.completions.create({ ...r, stream: true }).then(async (s) => {
            let t = "";
            for await (const ch of s) if (ch.choices.length) t += ch.choices[0].text;
            return t;
        })));
    let same = 0;
    for (let i = 0; i < 16; i++) same += together[i] === alone[i];
    check(same === 16, `16 concurrent clients equal their solo results (${same}/16)`);

    // chat: the ChatML layout of the messages, as a completion of the same text
    if (chatArg === "chatml") {
        const messages = [{ role: "system", content: "You are terse." }, { role: "user", content: "What moved the market?" }];
        const layout = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join("") + "<|im_start|>assistant\n";
        const ch = await client.chat.completions.create({ model: id, messages, max_tokens: 16, temperature: 0.7, seed: 5 });
        const co = await client.completions.create({ model: id, prompt: layout, max_tokens: 16, temperature: 0.7, seed: 5 });
        check(ch.object === "chat.completion" && ch.choices[0].message.role === "assistant", "chat.completion object");
        check(ch.choices[0].message.content === co.choices[0].text && ch.usage.prompt_tokens === co.usage.prompt_tokens,
              "chat equals a completion of the ChatML layout");
        const cs = await client.chat.completions.create({ model: id, messages, max_tokens: 16, temperature: 0.7, seed: 5,
                                                          stream: true });
        let ct = "", obj = "", fin = null;
        for await (const chunk of cs) {
            obj = chunk.object;
            if (chunk.choices.length) {
                ct += chunk.choices[0].delta.content || "";
                if (chunk.choices[0].finish_reason) fin = chunk.choices[0].finish_reason;
            }
        }
        check(ct === ch.choices[0].message.content && obj === "chat.completion.chunk" && fin, "streamed chat equals non-streamed");
        // chat log-probabilities: {content: [{token, logprob, bytes, top_logprobs}]}
        const clp = { model: id, messages, max_tokens: 12, temperature: 0.7, seed: 5, logprobs: true, top_logprobs: 2 };
        const cl = (await client.chat.completions.create(clp)).choices[0];
        const C = cl.logprobs && cl.logprobs.content;
        check(C && C.length === 12 && cl.message.content === ch.choices[0].message.content.slice(0, cl.message.content.length),
              "chat logprobs: one entry per token, the same text as without");
        check(Buffer.concat(C.map((e) => Buffer.from(e.bytes))).toString() === cl.message.content, "the entries' bytes spell the content");
        check(C.every((e) => e.top_logprobs.length === 2 && e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob &&
                             e.logprob <= 0 && (e.top_logprobs.some((t) => t.token === e.token) || e.logprob <= e.top_logprobs[1].logprob)),
              "top_logprobs: 2 each, best first, the chosen token among them or below them");
        const cls = await client.chat.completions.create({ ...clp, stream: true });
        const sc = [];
        for await (const chunk of cls) if (chunk.choices.length && chunk.choices[0].logprobs) sc.push(...chunk.choices[0].logprobs.content);
        check(JSON.stringify(sc) === JSON.stringify(C), "streamed chat logprobs equal the non-streamed ones");
        await expectError(client.chat.completions.create({ model: id, messages, top_logprobs: 2 }), 400, "top_logprobs without logprobs");
        await expectError(client.chat.completions.create({ model: id, messages, logprobs: 3 }), 400, "chat logprobs must be a boolean");
        await expectError(client.chat.completions.create({ model: id, messages: [{ role: "robot", content: "x" }] }), 400,
                               "a bad role");
        await expectError(client.chat.completions.create({ model: id, messages: [{ role: "user", content: 5 }] }), 400,
                               "content of the wrong type");
    } else {
        await expectError(client.chat.completions.create({ model: id, messages: [{ role: "user", content: "hi" }] }), 400,
                               "chat without a known template is refused");
    }

    // errors through the client: status and OpenAI error object
    await expectError(client.completions.create({ model: "nope", prompt }), 404, "unknown model");
    await expectError(client.completions.create({ model: id, prompt, n: 2 }), 400, "n = 2");
    await expectError(client.completions.create({ model: id, prompt, temperature: "hot" }), 400, "temperature of the wrong type");
    const long = await expectError(client.completions.create({ model: id, prompt: "once ".repeat(400) }), 400, "prompt too long");
    check(long && long.code === "context_length_exceeded" && /at most 255/.test(long.error.message), "prompt too long says how many fit");
    await expectError(client.chat.completions.create({ model: id, messages: [] }), 400, "empty messages");
    await expectError(client.completions.create({ model: id, prompt, logit_bias: { 5: 1 } }), 400, "logit_bias (not supported) is refused, not ignored");

    // raw HTTP: malformed JSON, bad UTF-8, huge bodies, unknown routes
    async function raw(path, body, headers = {}) {
        const r = await fetch(base + path, { method: "POST", body, headers: { "Content-Type": "application/json", ...headers } });
        let j = null;
        try { j = await r.json(); } catch { /* not JSON */ }
        return { status: r.status, j };
    }
    let r = await raw("/v1/completions", "{\"prompt\": ");
    check(r.status === 400 && r.j.error.code === "invalid_json", "malformed JSON gives 400 invalid_json");
    r = await raw("/v1/completions", Buffer.from([0x7b, 0x22, 0x70, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    check(r.status === 400 && r.j.error.code === "invalid_json", "bad UTF-8 gives 400");
    r = await raw("/v1/completions", JSON.stringify({ prompt: "x".repeat(9 << 20) }));
    check(r.status === 413 && r.j.error.code === "request_too_large", "a huge body gives 413");
    r = await raw("/v1/completions", JSON.stringify({ max_tokens: 3 }));
    check(r.status === 400 && r.j.error.param === "prompt", "a missing prompt names the parameter");
    r = await raw("/v1/nothing", "{}");
    check(r.status === 404, "unknown route gives 404");
    const g = await fetch(base + "/v1/completions");
    check(g.status === 405, "GET on a POST route gives 405");

    // slow clients trickling their bytes do not hold up others
    const slow = [];
    for (let k = 0; k < 8; k++) {
        const sock = net.connect(port, "127.0.0.1");
        sock.on("error", () => {});
        sock.write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 400\r\n\r\n{");
        slow.push(sock);
    }
    const trickle = setInterval(() => slow.forEach((sk) => sk.write(" ")), 100);
    const t0 = performance.now();
    const during = await client.completions.create({ model: id, prompt, max_tokens: 24, temperature: 0 });
    const ms = performance.now() - t0;
    clearInterval(trickle);
    slow.forEach((sk) => sk.destroy());
    check(during.choices[0].text === c1.choices[0].text && ms < 10000, `a request beside 8 trickling clients is answered (${ms.toFixed(0)} ms)`);

    const metrics = await (await fetch(base + "/metrics")).text();
    check(/desk_generated_tokens_total \d+/.test(metrics) && /desk_queue_depth 0/.test(metrics), "metrics in Prometheus format");
    const ttft = /desk_time_to_first_token_seconds_count (\d+)/.exec(metrics), tpot = /desk_time_per_output_token_seconds_bucket\{le="\+Inf"\} (\d+)/.exec(metrics);
    check(ttft && Number(ttft[1]) > 30 && tpot && Number(tpot[1]) > 300, "latency histograms count the requests and tokens");
} finally {
    const ex = await stop(srv);
    check(ex.code === 0, `SIGTERM stops the server cleanly (exit ${ex.code}, signal ${ex.sig})`);
    check(/POST \/v1\/completions 200 prompt=\d+ completion=\d+/.test(srv.log()), "one log line per request");

}

// clients that go away: a long context, so generation (16000 tokens, seconds) is still
// running when they leave, and their slots must be free within 0.4 s
const longSrv = await start(["-c", "16384"], port + 1);
try {
    const lbase = `http://127.0.0.1:${port + 1}`;
    // a client that vanishes mid-stream frees its slot
    const ac = new AbortController();
    const resp = await fetch(lbase + "/v1/completions", { method: "POST", signal: ac.signal,
        body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 16000, temperature: 0.9, stream: true }) });
    const reader = resp.body.getReader();
    await reader.read();
    ac.abort();
    let busy = -1;
    for (let i = 0; i < 8 && busy !== 0; i++) { /* well before 16000 tokens could finish */
        await new Promise((res) => setTimeout(res, 50));
        const m = await (await fetch(lbase + "/metrics")).text();
        busy = Number(/desk_slots_active (\d+)/.exec(m)[1]);
    }
    check(busy === 0, "the slot of a vanished client is freed");

    // the same for a client that gives up on a non-streamed answer
    const ac2 = new AbortController();
    const gone = fetch(lbase + "/v1/completions", { method: "POST", signal: ac2.signal,
        body: JSON.stringify({ prompt: "Once upon a time", max_tokens: 16000, temperature: 0.9, seed: 1 }) }).catch(() => null);
    for (let i = 0; i < 400; i++) { /* abort while it generates */
        const m = await (await fetch(lbase + "/metrics")).text();
        if (Number(/desk_slots_active (\d+)/.exec(m)[1]) > 0) break;
        await new Promise((res) => setTimeout(res, 2));
    }
    ac2.abort();
    await gone;
    busy = -1;
    for (let i = 0; i < 8 && busy !== 0; i++) { /* well before 16000 tokens could finish */
        await new Promise((res) => setTimeout(res, 50));
        const m = await (await fetch(lbase + "/metrics")).text();
        busy = Number(/desk_slots_active (\d+)/.exec(m)[1]);
    }
    check(busy === 0, "the slot of a client that gave up on a non-streamed answer is freed");

} finally {
    await stop(longSrv);
    const gone = (longSrv.log().match(/ 499 .*client went away/g) || []).length;
    check(gone === 2, `both clients that went away are logged as such (${gone})`);
}

// API key: refused without it or with a wrong one, accepted with it
const keyed = await start(["--api-key", "s3cret"], port + 1);
try {
    const kbase = `http://127.0.0.1:${port + 1}`;
    check((await fetch(kbase + "/v1/models")).status === 401, "no key: 401");
    check((await fetch(kbase + "/v1/models", { headers: { Authorization: "Bearer wrong" } })).status === 401, "wrong key: 401");
    const ok = new OpenAI({ baseURL: kbase + "/v1", apiKey: "s3cret", maxRetries: 0 });
    check((await ok.models.list()).data[0].id === id, "right key: models.list works");
} finally {
    await stop(keyed);
}

console.log(`serve: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
