// serve_chat_template.mjs - desk serve's chat endpoint renders the model's
// own chat template: for each conversation, @huggingface/jinja (the engine
// transformers.js uses) renders the same template, and a completion of that
// text must give exactly the chat's tokens and text (same seed). A
// conversation the template refuses (raise_exception) gets a 400 carrying
// the template's message; --verbose-prompt logs exactly the rendered text.
//
// usage: node serve_chat_template.mjs DESK MODEL.gguf PORT TEMPLATE.jinja BOS EOS [REFUSED_MESSAGE]
//        (BOS is also stripped from the rendered text before the completion,
//         which adds its own BOS; REFUSED_MESSAGE: text the template raises
//         for a leading system message, if it refuses one)
import { Template } from "@huggingface/jinja";
import OpenAI from "openai";
import { spawn } from "node:child_process";
import fs from "node:fs";

const [desk, model, portArg, templatePath, bos, eos, refused] = process.argv.slice(2);
const port = Number(portArg);
let pass = 0, fail = 0;
const check = (c, what) => (c ? pass++ : (fail++, console.error("FAIL " + what)));

const proc = spawn(desk, ["serve", "-m", model, "--port", String(port), "-t", "2", "-c", "512", "--verbose-prompt"],
                   { stdio: ["ignore", "ignore", "pipe"] });
let log = "";
proc.stderr.on("data", (d) => { log += d; });
const base = `http://127.0.0.1:${port}`;
for (let i = 0; i < 100; i++) {
    try { if ((await fetch(base + "/health")).ok) break; } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 100));
}
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "unused", maxRetries: 0 });
const id = model.split("/").pop();
// trim_blocks / lstrip_blocks as Hugging Face configures Jinja; one trailing newline dropped as Jinja2 does
const source = fs.readFileSync(templatePath, "utf8").replace(/\n$/, "");
const tmpl = new Template(source);
const conversations = [
    [{ role: "user", content: "What moved the market today?" }],
    [{ role: "system", content: "You are terse." }, { role: "user", content: "Bullish or bearish: 'ECB cuts rates'?" }],
    [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello." }, { role: "user", content: "Zürich 株価 🚀" }],
];
try {
    for (const [i, messages] of conversations.entries()) {
        let text;
        try {
            text = tmpl.render({ messages, add_generation_prompt: true, bos_token: bos, eos_token: eos });
        } catch (e) {
            if (refused && i === 1) {
                const r = await fetch(base + "/v1/chat/completions", { method: "POST", body: JSON.stringify({ messages, max_tokens: 4 }) });
                const j = await r.json();
                check(r.status === 400 && j.error.message.includes(refused), `conversation ${i}: the template's refusal is a 400 with its message (${r.status} ${j.error?.message})`);
                continue;
            }
            throw e;
        }
        const req = { model: id, max_tokens: 12, temperature: 0.8, seed: 11 + i };
        const chat = await client.chat.completions.create({ ...req, messages });
        const prompt = text.startsWith(bos) ? text.slice(bos.length) : text;
        const comp = await client.completions.create({ ...req, prompt });
        check(chat.usage.prompt_tokens === comp.usage.prompt_tokens,
              `conversation ${i}: chat prompt has ${chat.usage.prompt_tokens} tokens, the @huggingface/jinja rendering ${comp.usage.prompt_tokens}`);
        check(chat.choices[0].message.content === comp.choices[0].text, `conversation ${i}: chat output equals the completion of the rendered text`);
        check(log.includes("rendered prompt:\n" + text + "\ndesk serve: end of prompt"), `conversation ${i}: --verbose-prompt logs the rendered prompt`);
    }
} finally {
    proc.kill("SIGTERM");
}
console.log(`serve chat template ${templatePath.split("/").pop()}: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
