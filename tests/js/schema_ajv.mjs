// schema_ajv.mjs - JSON Schema -> GBNF (src/text/schema.c) checked with an
// independent validator, ajv: for each schema of a corpus (what a research
// pipeline asks for, and tricky ones), random walks that may only take
// characters the grammar allows (tests/schema_sample.c) must all parse as
// JSON and validate; each walk must finish (bounded schemas terminate).
// Schemas using keywords desk does not enforce must be refused with an
// error naming the keyword and where it is - never ignored.
//
// With DESK and MODEL: constrained decoding in the engine (`desk run
// --json-schema`) on a random-weight model at temperature 1: every output
// must validate, and for the schemas whose strings, arrays and nesting are
// bounded every output must end by itself (end of generation, not length).
//
// usage: node schema_ajv.mjs SCHEMA_SAMPLE_BINARY WORKDIR [SAMPLES=200 [DESK MODEL [SEEDS=12]]]
import Ajv from "ajv";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";

const [bin, work, nArg, desk, model, seedArg] = process.argv.slice(2);
const N = Number(nArg || 200);
let pass = 0, fail = 0;
const check = (c, what) => (c ? pass++ : (fail++, console.error("FAIL " + what)));
const ajv = new Ajv({ strict: false });

const corpus = {
    sentiment: {
        type: "object", additionalProperties: false, required: ["ticker", "sentiment", "score"],
        properties: {
            ticker: { type: "string", pattern: "^[A-Z]{1,5}$" },
            sentiment: { enum: ["positive", "negative", "neutral"] },
            score: { type: "number", minimum: -1, maximum: 1 },
            confidence: { type: "integer", minimum: 0, maximum: 100 },
            reason: { type: "string", maxLength: 60 },
        },
    },
    entities: {
        type: "array", minItems: 1, maxItems: 5,
        items: {
            type: "object", required: ["name", "kind"], additionalProperties: false,
            properties: {
                name: { type: "string", minLength: 1, maxLength: 20 },
                kind: { enum: ["company", "person", "index", "currency"] },
                ticker: { type: ["string", "null"], maxLength: 6 },
            },
        },
    },
    nested: {
        type: "object", required: ["trade", "risk"],
        properties: {
            trade: {
                type: "object", required: ["side", "qty"],
                properties: { side: { const: "buy" }, qty: { type: "integer", minimum: 1, maximum: 1000 }, limit: { type: "number", minimum: 0, maximum: 500 } },
            },
            risk: { type: "object", properties: { level: { enum: [1, 2, 3, null] }, note: { type: "string", maxLength: 10 } } },
            tags: { type: "array", items: { type: "string", maxLength: 8 }, maxItems: 3 },
        },
    },
    anyof_nullable: {
        type: "object", required: ["value"],
        properties: {
            value: { anyOf: [{ type: "integer", minimum: -50, maximum: 50 }, { type: "string", maxLength: 5 }, { type: "null" }] },
            flag: { type: "boolean", nullable: true },
            choice: { oneOf: [{ type: "boolean" }, { type: "string", maxLength: 3 }] },
        },
    },
    patterns: {
        type: "object", required: ["date", "code", "isin"],
        properties: {
            date: { type: "string", pattern: "^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$" },
            code: { type: "string", pattern: "^(BUY|SELL|HOLD)-[A-Z0-9]{2,4}$" },
            isin: { type: "string", pattern: "^[A-Z]{2}[A-Z0-9]{9}\\d$" },
            free: { type: "string", pattern: "^x[^y]?z$" },
        },
    },
    unicode: {
        type: "object", required: ["text", "symbol"],
        properties: { text: { type: "string", minLength: 2, maxLength: 12 }, symbol: { enum: ["€", "¥", "£", "\u00e9\"q\\", "日本"] } },
    },
    recursive_refs: {
        $defs: {
            node: {
                type: "object", required: ["v"], additionalProperties: false,
                properties: { v: { type: "integer", minimum: 0, maximum: 9 }, kids: { type: "array", maxItems: 2, items: { $ref: "#/$defs/node" } } },
            },
        },
        $ref: "#/$defs/node",
    },
    deep: {
        type: "object", required: ["a"],
        properties: { a: { type: "object", required: ["b"], properties: { b: { type: "object", required: ["c"], properties: { c: { type: "array", minItems: 2, maxItems: 2, items: { type: "array", items: { type: "boolean" }, maxItems: 2 } } } } } } },
    },
    open_map: { type: "object", additionalProperties: { type: "integer", minimum: 0, maximum: 3 } },
};

for (const [name, schema] of Object.entries(corpus)) {
    const path = `${work}/${name}.json`;
    fs.writeFileSync(path, JSON.stringify(schema));
    const r = spawnSync(bin, [path, String(N), "7"], { encoding: "utf8", maxBuffer: 64 << 20 });
    if (r.status !== 0) {
        check(false, `${name}: schema_sample exited ${r.status}: ${r.stderr.slice(0, 400)}`);
        continue;
    }
    const validate = ajv.compile(schema);
    const lines = r.stdout.split("\n").filter((l) => l.length);
    let bad = 0, shown = 0;
    for (const l of lines) {
        let v, ok = false;
        try {
            v = JSON.parse(l);
            ok = validate(v);
        } catch { ok = false; }
        if (!ok) {
            bad++;
            if (shown++ < 3) console.error(`  ${name}: invalid: ${l} ${JSON.stringify(validate.errors)}`);
        }
    }
    check(lines.length === N && bad === 0, `${name}: ${lines.length} samples, ${bad} invalid`);
}

// constrained decoding through desk run
const unbounded = new Set(["open_map", "recursive_refs"]); /* any number of keys / any depth: may run to the limit */
if (desk && model) {
    const seeds = Number(seedArg || 12);
    for (const name of Object.keys(corpus)) {
        const validate = ajv.compile(corpus[name]);
        let bad = 0, unfinished = 0;
        for (let seed = 1; seed <= seeds; seed++) {
            const r = spawnSync(desk, ["run", "-m", model, "-p", "x", "--json-schema", `${work}/${name}.json`, "-n", "800",
                                       "--temp", "1", "--top-k", "0", "--top-p", "1", "--min-p", "0", "--seed", String(seed), "-t", "1"],
                                { encoding: "utf8" });
            const text = r.stdout.replace(/\n$/, "");
            let ok = false;
            try { ok = r.status === 0 && validate(JSON.parse(text)); } catch { ok = false; }
            if (!/\(end of generation\)/.test(r.stderr)) unfinished++;
            else if (!ok) {
                bad++;
                if (bad < 3) console.error(`  ${name} seed ${seed}: ${text.slice(0, 200)} ${JSON.stringify(validate.errors)}`);
            }
        }
        check(bad === 0, `desk run --json-schema ${name}: ${bad} of ${seeds} finished outputs do not validate`);
        if (!unbounded.has(name)) check(unfinished === 0, `desk run --json-schema ${name}: ${unfinished} of ${seeds} did not finish by themselves`);
    }
    fs.writeFileSync(`${work}/answer.gbnf`, 'root ::= ("yes" | "no") " (" [0-9] "/10)"\n');
    const outs = new Set();
    for (let seed = 1; seed <= 8; seed++) {
        const g = spawnSync(desk, ["run", "-m", model, "-p", "x", "--grammar", `${work}/answer.gbnf`, "-n", "50", "--temp", "1", "--seed", String(seed)],
                            { encoding: "utf8" });
        outs.add(g.stdout.trim());
        check(/^(yes|no) \([0-9]\/10\)$/.test(g.stdout.trim()) && /\(end of generation\)/.test(g.stderr), `--grammar output ${JSON.stringify(g.stdout)}`);
    }
    fs.writeFileSync(`${work}/bad.gbnf`, "root ::= root \"a\"\n");
    const bg = spawnSync(desk, ["run", "-m", model, "-p", "x", "--grammar", `${work}/bad.gbnf`], { encoding: "utf8" });
    check(bg.status === 1 && bg.stderr.includes("left-recursive"), `a left-recursive grammar is refused: ${bg.stderr.trim()}`);
    fs.writeFileSync(`${work}/multipleof.json`, JSON.stringify({ type: "object", properties: { n: { type: "integer", multipleOf: 3 } } }));
    const r = spawnSync(desk, ["run", "-m", model, "-p", "x", "--json-schema", `${work}/multipleof.json`], { encoding: "utf8" });
    check(r.status === 1 && r.stderr.includes("'multipleOf' is not supported") && r.stderr.includes("/properties/n"),
          `desk run with a schema it cannot enforce fails and says where: ${r.stderr.trim()}`);
}

// keywords desk cannot enforce are refused, naming the keyword and its path
const refused = [
    [{ type: "string", format: "date-time" }, "'format'", "(root)"],
    [{ type: "object", properties: { a: { type: "number", multipleOf: 5 } } }, "'multipleOf'", "/properties/a"],
    [{ type: "array", items: { type: "integer" }, uniqueItems: true }, "'uniqueItems'", "(root)"],
    [{ allOf: [{ type: "string" }] }, "'allOf'", "(root)"],
    [{ not: { type: "string" } }, "'not'", "(root)"],
    [{ type: "object", patternProperties: { "^x": { type: "string" } } }, "'patternProperties'", "(root)"],
    [{ type: "object", properties: { a: { type: "string" } }, minProperties: 1 }, "'minProperties'", "(root)"],
    [{ if: { type: "string" }, then: { maxLength: 3 } }, "'if'", "(root)"],
    [{ type: "array", prefixItems: [{ type: "string" }] }, "'prefixItems'", "(root)"],
    [{ oneOf: [{ type: "string" }, { type: "string", maxLength: 2 }] }, "oneOf", "(root)"],
    [{ type: "integer", minimum: 0 }, "bounded on one side", "(root)"],
    [{ type: "number", minimum: 0.5, maximum: 2 }, "not whole numbers", "(root)"],
    [{ $ref: "https://example.com/schema.json" }, "only local", "(root)"],
    [{ type: "object", properties: { a: { type: "string", pattern: "^(?=x)" } } }, "lookaround", "/properties/a"],
    [{ type: "object", required: ["missing"], properties: { a: { type: "string" } } }, "required 'missing'", "(root)"],
    [{ type: "strange" }, "unknown type 'strange'", "(root)"],
    // a $ref that reaches itself before any text would be a left-recursive grammar (found by fuzz_schema)
    [{ $defs: { n: { $ref: "#/$defs/n" } }, type: "array", items: { $ref: "#/$defs/n" } }, "reaches itself again", "#/$defs/n"],
    [{ $defs: { a: { anyOf: [{ $ref: "#/$defs/a" }, { type: "null" }] } }, $ref: "#/$defs/a" }, "reaches itself again", "#/$defs/a"],
];
for (const [schema, word, where] of refused) {
    const path = `${work}/refused.json`;
    fs.writeFileSync(path, JSON.stringify(schema));
    const r = spawnSync(bin, [path, "gbnf"], { encoding: "utf8" });
    check(r.status === 3 && r.stderr.includes(word) && r.stderr.includes(where),
          `refused ${JSON.stringify(schema)}: exit ${r.status}, '${r.stderr.trim()}' should name ${word} at ${where}`);
}
const notJson = spawnSync(bin, ["/dev/null", "gbnf"], { encoding: "utf8" });
check(notJson.status === 3 && /not valid JSON/.test(notJson.stderr), "an empty schema file is not JSON");
console.log(`schema: ${Object.keys(corpus).length} schemas x ${N} samples validated by ajv, ${refused.length} refusals: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
