#!/usr/bin/env python3
"""Differential test of desk's chat-template engine against Jinja2 itself.

Jinja2 is configured the way Hugging Face's apply_chat_template configures it
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its
tojson with ensure_ascii off, raise_exception, strftime_now). Every template
(the published chat templates in ../shared/data/chat-templates, the
tokenizer_config.json templates of the npm tokenizer packages, and the
feature templates in tests/chat/features) is rendered for a set of
conversations with and without the generation prompt; desk must produce the
same text, or fail where Jinja2 fails (with the same message for
raise_exception).

usage: diff_templates.py RENDER_BINARY WORKDIR [TEMPLATE_DIR...]
       (DESK_RUNNER, e.g. "qemu-aarch64", prefixes the binary's command line)
"""
import datetime
import glob
import json
import os
import subprocess
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = 1764154800  # 2025-11-26 11:00:00 UTC: strftime_now sees this time on both sides (TZ=UTC)


def hf_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


CONVERSATIONS = [
    [{"role": "user", "content": "What moved the market today?"}],
    [{"role": "system", "content": "You are a terse trading assistant."},
     {"role": "user", "content": "Summarise: AAPL beat earnings, guided lower."}],
    [{"role": "system", "content": "Answer in JSON."},
     {"role": "user", "content": "Sentiment of: 'Fed holds rates'"},
     {"role": "assistant", "content": "{\"sentiment\": \"neutral\"}"},
     {"role": "user", "content": "And: 'ECB cuts by 50bp'"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
     {"role": "user", "content": "Two"}, {"role": "assistant", "content": "Three."},
     {"role": "user", "content": "Four"}],
    # assistant prefill: the answer's start, to be continued
    [{"role": "user", "content": "List three tickers."}, {"role": "assistant", "content": "Sure: AAPL,"}],
    # empty content, and whitespace the templates trim
    [{"role": "user", "content": ""}],
    [{"role": "system", "content": "  padded system  \n"}, {"role": "user", "content": "\n\tpadded user \n"}],
    # non-ASCII, quotes, braces and template-looking text are data, not syntax
    [{"role": "user", "content": "Résumé: 株価は上昇 — “quoted” 'single' {{ not_a_var }} {% if %} 🚀\\n"}],
    [{"role": "system", "content": "Ünïcödé system"}, {"role": "user", "content": "Zürich ¥€£ \u00a0nbsp"}],
    # a conversation some templates refuse (system in gemma, roles not alternating)
    [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
    # reasoning-style content (Qwen3 / DeepSeek split on </think>)
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
     {"role": "user", "content": "3+3?"}],
]


def templates(dirs):
    out = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.jinja"))):
            out.append((os.path.relpath(path), open(path, encoding="utf-8").read(), None, None))
        for path in sorted(glob.glob(os.path.join(d, "*", "models", "tokenizer_config.json"))):
            cfg = json.load(open(path, encoding="utf-8"))
            t = cfg.get("chat_template")
            if isinstance(t, list):  # named templates
                t = next((x["template"] for x in t if x.get("name") == "default"), None)
            if isinstance(t, str):
                tok = lambda k: cfg.get(k) if isinstance(cfg.get(k), str) else (cfg.get(k) or {}).get("content")  # noqa: E731
                out.append((os.path.relpath(path), t, tok("bos_token"), tok("eos_token")))
    return out


def main():
    render, work = sys.argv[1], sys.argv[2]
    dirs = sys.argv[3:]
    env = hf_env()
    cases, expect = [], []
    for name, text, bos, eos in templates(dirs):
        for ci, conv in enumerate(CONVERSATIONS):
            for agp in (True, False):
                case = {"template": text, "messages": conv, "add_generation_prompt": agp,
                        "bos_token": bos if bos is not None else "<s>", "eos_token": eos if eos is not None else "</s>",
                        "now": NOW}
                try:
                    want = ("ok", env.from_string(text).render(messages=conv, add_generation_prompt=agp,
                                                                bos_token=case["bos_token"], eos_token=case["eos_token"]))
                except Exception as e:  # noqa: BLE001 (TemplateError, TypeError, ...: desk must fail too)
                    want = ("error", str(e))
                cases.append(case)
                expect.append((name, ci, agp, want))
    cpath, opath = os.path.join(work, "cases.json"), os.path.join(work, "out.json")
    json.dump(cases, open(cpath, "w", encoding="utf-8"), ensure_ascii=False)
    runner = os.environ.get("DESK_RUNNER", "").split()
    subprocess.run(runner + [render, cpath, opath], check=True, env={**os.environ, "TZ": "UTC"})
    got = json.load(open(opath, encoding="utf-8"))
    bad = 0
    names, shown = set(), set()
    for (name, ci, agp, want), g in zip(expect, got):
        names.add(name)
        what = f"{name} conversation {ci} add_generation_prompt={agp}"
        if name in shown:  # one report per template is enough to read
            what = None
        if want[0] == "ok":
            if not g["ok"]:
                bad += 1
                msg = f"MISMATCH {what}: Jinja2 rendered, desk failed: {g['error']}"
            elif g["text"] != want[1]:
                bad += 1
                msg = f"MISMATCH {what}:\n  jinja2: {want[1]!r}\n  desk:   {g['text']!r}"
            else:
                continue
        else:
            if g["ok"]:
                bad += 1
                msg = f"MISMATCH {what}: Jinja2 failed ({want[1]}), desk rendered {g['text']!r}"
            elif "raised an error" in g["error"] and want[1] not in g["error"]:
                bad += 1
                msg = f"MISMATCH {what}: Jinja2 raised {want[1]!r}, desk: {g['error']}"
            else:
                continue
        if what:
            print(msg)
            shown.add(name)
    n_err = sum(1 for e in expect if e[3][0] == "error")
    print(f"{len(names)} templates x {len(CONVERSATIONS)} conversations x 2: {len(cases)} renders "
          f"({n_err} refused by the template on both sides), {bad} mismatches")
    return 1 if bad or not cases else 0


if __name__ == "__main__":
    sys.exit(main())
