#!/usr/bin/env python3
"""`desk chat` end to end, in a pseudo-terminal and through a pipe.

In a pty (as a user at a terminal): the prompt and banner, an answer streamed
back, Ctrl-C during a long answer stops it and returns to the prompt with
the chat still alive, Ctrl-C at the prompt discards the typed line,
multi-line input (\"\"\" blocks and trailing backslashes), /save, /reset,
/load, a context that fills up (with the message telling the user what to
do), and Ctrl-D leaving with status 0. Through a pipe: answers only, the
first turn equal to `desk run` on the same text (greedy), and the second turn
prefilling only its new tokens (the history stays in the KV cache).

usage: chat_pty.py DESK WORKDIR CHATML_MODEL.gguf [STORIES.gguf]
"""
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL " + what, file=sys.stderr)


class Pty:
    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(args[0], args)
        self.buf = b""

    def read_until(self, pattern, timeout=30):
        """Reads until the regex matches the text after the last read mark."""
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.buf)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out.decode(errors="replace")
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                self.buf += data
        raise TimeoutError(f"waited {timeout}s for {pattern!r}; last output {self.buf[-400:]!r}")

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:  # keep draining so the child never blocks on a full pty
                if select.select([self.fd], [], [], 0.05)[0]:
                    os.read(self.fd, 65536)
            except OSError:
                pass
        os.kill(self.pid, signal.SIGKILL)
        return None


def main():
    desk, work, model = sys.argv[1], sys.argv[2], sys.argv[3]
    stories = sys.argv[4] if len(sys.argv) > 4 else None
    chatml = os.path.join(HERE, "chatml.jinja")
    base = [desk, "chat", "-m", model, "--template", chatml, "--temp", "0", "-t", "2"]
    PROMPT = rb"\n> $"

    # ---- a terminal session
    p = Pty(base + ["-n", "100000"])
    banner = p.read_until(PROMPT)
    check("context" in banner and "/help" in banner, f"banner names the context and /help: {banner!r}")
    p.send("tell me a long story\r")
    time.sleep(1.0)  # the answer streams for ~100 s unless stopped
    p.send("\x03")
    out = p.read_until(PROMPT, timeout=15)
    check("[stopped]" in out, f"Ctrl-C during an answer prints [stopped]: {out[-200:]!r}")
    save1 = os.path.join(work, "c1.json")
    p.send(f"/save {save1}\r")
    out = p.read_until(PROMPT)
    check("saved 2 messages" in out, f"/save after a stopped answer: {out!r}")
    conv = json.load(open(save1))["messages"]
    check(conv[0] == {"role": "user", "content": "tell me a long story"} and conv[1]["role"] == "assistant"
          and len(conv[1]["content"]) > 0, f"the saved conversation holds the turn and the partial answer: {conv!r:.200}")
    # Ctrl-C at the prompt discards what was typed
    p.send("never sent")
    time.sleep(0.2)
    p.send("\x03")
    p.read_until(PROMPT)
    # multi-line input: a """ block and a continued line
    p.send('"""\r')
    p.read_until(rb"\. $")
    p.send("line one\r")
    p.read_until(rb"\. $")
    p.send("line two\r")
    p.read_until(rb"\. $")
    p.send('"""\r')
    time.sleep(0.5)
    p.send("\x03")
    p.read_until(PROMPT, timeout=15)
    p.send("first \\\r")
    p.read_until(rb"\. $")
    p.send("second\r")
    time.sleep(0.5)
    p.send("\x03")
    p.read_until(PROMPT, timeout=15)
    save2 = os.path.join(work, "c2.json")
    p.send(f"/save {save2}\r")
    p.read_until(PROMPT)
    conv2 = json.load(open(save2))["messages"]
    users = [m["content"] for m in conv2 if m["role"] == "user"]
    check(users == ["tell me a long story", "line one\nline two", "first \nsecond"],
          f"Ctrl-C at the prompt drops the line; blocks and continuations are one turn each: {users!r}")
    p.send("/reset\r")
    out = p.read_until(PROMPT)
    check("reset" in out, f"/reset: {out!r}")
    p.send(f"/load {save1}\r")
    out = p.read_until(PROMPT)
    check("loaded 2 messages" in out, f"/load: {out!r}")
    save3 = os.path.join(work, "c3.json")
    p.send(f"/save {save3}\r")
    p.read_until(PROMPT)
    check(json.load(open(save3))["messages"] == conv, "/load restores the saved conversation")
    p.send("/load /nonexistent/file.json\r")
    out = p.read_until(PROMPT)
    check("/nonexistent/file.json" in out, f"/load of a missing file says so and the chat goes on: {out!r}")
    p.send("/frobnicate\r")
    out = p.read_until(PROMPT)
    check("unknown command" in out, f"an unknown command: {out!r}")
    p.send("\x04")
    check(p.wait() == 0, "Ctrl-D leaves with status 0")

    # ---- a context that fills up
    p = Pty(base + ["-c", "128", "-n", "100000"])
    p.read_until(PROMPT)
    p.send("fill the context\r")
    out = p.read_until(PROMPT, timeout=60)
    check("context (128 tokens) is full" in out and "/reset" in out, f"a full context is reported with what to do: {out[-300:]!r}")
    p.send("and now?\r")
    out = p.read_until(PROMPT, timeout=30)
    check("does not fit" in out and "larger -c" in out, f"a turn that no longer fits is refused with advice: {out[-300:]!r}")
    p.send("/reset\r")
    p.read_until(PROMPT)
    p.send("fresh start\r")
    out = p.read_until(PROMPT, timeout=60)
    check("does not fit" not in out, "after /reset the chat works again")
    p.send("/quit\r")
    check(p.wait() == 0, "/quit leaves with status 0")

    # ---- a pipe: answers only; the history stays in the KV cache
    if stories:
        story = os.path.join(HERE, "story.jinja")
        r = subprocess.run([desk, "chat", "-m", stories, "--template", story, "--temp", "0", "-n", "40", "--verbose-prompt"],
                           input="Once upon a time\nThe end.\n", capture_output=True, text=True, timeout=60)
        want = subprocess.run([desk, "run", "-m", stories, "-p", "Once upon a time", "--temp", "0", "-n", "40"],
                              capture_output=True, text=True, timeout=60).stdout
        answers = r.stdout.split("\n")
        check(r.returncode == 0 and answers[0] + "\n" == want, f"piped: the first answer equals desk run: {answers[0]!r} vs {want!r}")
        reuse = re.findall(r"prompt (\d+) tokens: (\d+) reused from the cache, (\d+) prefilled", r.stderr)
        check(len(reuse) == 2 and int(reuse[0][1]) == 0 and int(reuse[1][1]) >= int(reuse[0][0]) + 30 and
              int(reuse[1][2]) < 10, f"the second turn prefills only its new tokens: {reuse}")
        check(not re.search(r"^> ", r.stdout, re.M) and "desk chat:" not in r.stdout, "piped output holds only the answers")
    r = subprocess.run(base, input="", capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and r.stdout == "", "empty input: nothing to do, status 0")
    r = subprocess.run([desk, "chat", "-m", model], input="hi\n", capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "no chat template" in r.stderr and "--template" in r.stderr,
          f"a model without a chat template is refused with what to do: {r.stderr!r}")
    r = subprocess.run([desk, "chat", "-m", model, "--template", "/nonexistent.jinja"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "/nonexistent.jinja" in r.stderr, f"a missing template file: {r.stderr!r}")
    bad = os.path.join(work, "bad.jinja")
    open(bad, "w").write("line one\n{% if x %}\n")
    r = subprocess.run([desk, "chat", "-m", model, "--template", bad], capture_output=True, text=True, timeout=30)
    check(r.returncode == 1 and "line 2" in r.stderr, f"a malformed template names its line: {r.stderr!r}")
    print(f"chat: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
