/*
 * test_template.c - the chat-template engine's own unit tests: what
 * templates render to for constructs whose Jinja2 output is known, errors
 * on malformed or unsupported templates (naming the line and construct),
 * limits that keep hostile templates finite, and the desk_template_* API.
 * (Agreement with Jinja2 itself on real templates is tests/chat/diff_templates.py.)
 */
#include "testutil.h"

static char *render(const char *tmpl, const desk_chat_msg *m, int n, desk_status *st, desk_error *err) {
    desk_template *t;
    char *out = NULL;
    size_t len;
    *st = desk_template_parse(tmpl, strlen(tmpl), &t, err);
    if (*st) return NULL;
    desk_chat_opts o = {.add_generation_prompt = true, .bos_token = "<s>", .eos_token = "</s>", .now = 1764154800};
    *st = desk_template_render(t, m, n, &o, &out, &len, err);
    desk_template_free(t);
    return out;
}

static void expect(const char *tmpl, const char *want) {
    desk_status st;
    desk_error err;
    desk_chat_msg m[2] = {{"system", "Be brief."}, {"user", "Hi"}};
    char *out = render(tmpl, m, 2, &st, &err);
    CHECK(st == DESK_OK && out && !strcmp(out, want), "%s\n  got  %s\n  want %s", tmpl, out ? out : err.msg, want);
    free(out);
}

static void expect_error(const char *tmpl, const char *want) {
    desk_status st;
    desk_error err;
    desk_chat_msg m[1] = {{"user", "Hi"}};
    char *out = render(tmpl, m, 1, &st, &err);
    CHECK(st != DESK_OK && !out && strstr(err.msg, want), "%s\n  status %d, message '%s', wanted '%s'", tmpl, st,
          st ? err.msg : out, want);
    free(out);
}

int main(void) {
    /* a ChatML layout, with the generation prompt and tokens from the options */
    expect("{{ bos_token }}{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
           "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}{{ eos_token }}",
           "<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n</s>");
    /* whitespace control: trim_blocks, lstrip_blocks, -, + */
    expect("a\n  {% if true %}\n  b\n  {% endif %}\nc", "a\n  b\nc");
    expect("a  {%- if true -%}  b  {%- endif -%}  c", "abc");
    expect("  {%+ if true %}x{% endif %}", "  x");
    expect("{# comment #}\nx", "x");
    /* values print as Python prints them */
    expect("{{ [1, 'a', none, true, 2.5, (1,)] }} {{ {'k': 'v'} }} {{ 1 / 4 }} {{ 10 / 2 }} {{ 1e22 }}",
           "[1, 'a', None, True, 2.5, (1,)] {'k': 'v'} 0.25 5.0 1e+22");
    /* scoping: a set in a loop stays in the loop; a namespace carries it out */
    expect("{% set x = 1 %}{% for i in [1, 2] %}{% set x = 5 %}{% endfor %}{{ x }}", "1");
    expect("{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}", "4");
    /* strftime_now formats the time the options give (the test runs with TZ=UTC) */
    expect("{{ strftime_now('%Y-%m-%d') }}", "2025-11-26");
    expect("{{ messages | map(attribute='role') | join(',') }} {{ messages[-1].content | upper }}", "system,user HI");
    expect("{{ {'b': 1, 'a': [1, 'x']} | tojson }} {{ 'é\"\\n' | tojson }}", "{\"b\": 1, \"a\": [1, \"x\"]} \"é\\\"\\n\"");

    /* parse errors name the line and the construct */
    expect_error("line1\n{% if x %}\nno end", "line 2");
    expect_error("{% if x %}", "never closed");
    expect_error("{{ x ", "never closed");
    expect_error("a\nb\n{% endif %}", "line 3: 'endif' without a matching opening tag");
    expect_error("{% include 'other.jinja' %}", "'include' statement is not supported");
    expect_error("{% for %}{% endfor %}", "expected a name after 'for'");
    expect_error("{{ 'unterminated }}", "unterminated string");
    expect_error("{% break %}", "'break' outside a loop");
    expect_error("{% for x in y recursive %}{% endfor %}", "recursive loops are not supported");
    expect_error("{{ 1 +* 2 }}", "expected a value");
    expect_error("{{ x @ y }}", "unexpected character '@'");
    expect_error("{% set a, b = 1, 2 %}", "several targets");
    /* runtime errors too */
    expect_error("\n\n{{ x | frobnicate }}", "line 3: the filter 'frobnicate' is not supported");
    expect_error("{{ x is frobnicated }}", "the test 'frobnicated' is not supported");
    expect_error("{{ nothing.attr }}", "'nothing' is undefined");
    expect_error("{{ 'a' + 1 }}", "unsupported operand types for +: string and integer");
    expect_error("{{ 1 // 0 }}", "division or modulo by zero");
    expect_error("{{ raise_exception('Roles must alternate') }}", "the template raised an error: Roles must alternate");
    expect_error("{{ 9223372036854775807 + 1 }}", "integer overflow");
    expect_error("{{ [1] < 'a' }}", "cannot order");
    /* hostile templates end with an error, not a hang or a crash */
    {
        char deep[4200];
        size_t n = 0;
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{{ ");
        for (int i = 0; i < 2000; i++) deep[n++] = '(';
        deep[n++] = '1';
        for (int i = 0; i < 2000; i++) deep[n++] = ')';
        snprintf(deep + n, sizeof deep - n, " }}");
        expect_error(deep, "nests deeper");
    }
    expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "macros nest deeper");
    expect_error("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "passed 32 MiB");
    expect_error("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}", "");
    expect_error("{{ 'x' * 100000000 }}", "grew past");
    expect_error("{{ range(100000000) | length }}", "more than a million");

    /* the API: a model without a template, bad arguments */
    desk_template *t;
    desk_error err;
    CHECK(desk_template_parse("{{ messages | length }}", 23, &t, &err) == DESK_OK, "parse");
    char *out;
    size_t len;
    CHECK(desk_template_render(t, NULL, 0, NULL, &out, &len, &err) == DESK_OK && !strcmp(out, "0") && len == 1, "no messages");
    free(out);
    CHECK(desk_template_render(t, NULL, 2, NULL, &out, &len, &err) == DESK_EINVAL, "NULL messages with a count");
    desk_template_free(t);
    desk_template_free(NULL);
    return t_done("templates");
}
