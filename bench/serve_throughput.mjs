// serve_throughput.mjs - total generated tokens/s of a running `desk serve`
// with 1 stream and with N concurrent streams (issue 4's goal: >= 3x at 8).
// Prints one CSV row per concurrency: streams,tokens,seconds,tok_s,ratio.
//
// usage: node serve_throughput.mjs BASE_URL [N=8] [TOKENS=64]
const [base, nArg, tArg] = process.argv.slice(2);
const N = Number(nArg || 8), T = Number(tArg || 64);

async function one(i) {
    const r = await fetch(base + "/v1/completions", {
        method: "POST",
        body: JSON.stringify({ prompt: `Request ${i}: the market opened`, max_tokens: T, temperature: 0.8, seed: i }),
    });
    const j = await r.json();
    if (!j.usage) throw new Error(JSON.stringify(j));
    return j.usage.completion_tokens;
}

async function run(streams) {
    const t0 = performance.now();
    const toks = await Promise.all(Array.from({ length: streams }, (_, i) => one(i)));
    const s = (performance.now() - t0) / 1000;
    const n = toks.reduce((a, b) => a + b, 0);
    return { n, s, rate: n / s };
}

await run(1); // warm-up
const single = await run(1);
const multi = await run(N);
console.log("streams,tokens,seconds,tok_s,ratio_to_one_stream");
console.log(`1,${single.n},${single.s.toFixed(2)},${single.rate.toFixed(1)},1.00`);
console.log(`${N},${multi.n},${multi.s.toFixed(2)},${multi.rate.toFixed(1)},${(multi.rate / single.rate).toFixed(2)}`);
