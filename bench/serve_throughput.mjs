// serve_throughput.mjs - total generated tokens/s of a running `desk serve`
// with 1 stream and with N concurrent streams (issue 4's goal: >= 3x at 8).
// The two are measured alternately REPS times, so both see the same mix of
// this machine's fast and slow memory phases; medians are reported.
// Prints CSV: streams,tokens,median_seconds,median_tok_s,ratio_to_one_stream.
//
// usage: node serve_throughput.mjs BASE_URL [N=8] [TOKENS=64] [REPS=5]
const [base, nArg, tArg, rArg] = process.argv.slice(2);
const N = Number(nArg || 8), T = Number(tArg || 64), REPS = Number(rArg || 5);

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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await run(1); // warm-up
const single = [], multi = [];
for (let r = 0; r < REPS; r++) {
    single.push(await run(1));
    multi.push(await run(N));
}
const s1 = median(single.map((x) => x.rate)), sN = median(multi.map((x) => x.rate));
console.log("streams,tokens,median_seconds,median_tok_s,ratio_to_one_stream");
console.log(`1,${single[0].n},${median(single.map((x) => x.s)).toFixed(2)},${s1.toFixed(1)},1.00`);
console.log(`${N},${multi[0].n},${median(multi.map((x) => x.s)).toFixed(2)},${sN.toFixed(1)},${(sN / s1).toFixed(2)}`);
console.log(`# per run (1 stream / ${N} streams, tok/s): ` + single.map((x, i) => `${x.rate.toFixed(1)}/${multi[i].rate.toFixed(1)}`).join(" "));
