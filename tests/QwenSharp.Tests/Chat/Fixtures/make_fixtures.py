#!/usr/bin/env python3
"""Renders every fixture template x conversation with Python's jinja2 exactly the way HuggingFace's
apply_chat_template does (transformers' render_jinja_template), and writes fixtures.json;
also renders LANGUAGE_CASES (small templates, one language feature each) into language_cases.json.

  python3 make_fixtures.py          # needs jinja2 (3.1.x); reads templates/*.jinja and
                                    # ../../../../../shared/qwen-tokenizer/tokenizer_config.json

The environment is HF's: ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
extensions=[AssistantTracker, loopcontrols]), tojson = json.dumps(ensure_ascii=False, ...), globals raise_exception
and strftime_now (here pinned to a fixed time so the output is reproducible). Variables: messages, tools,
documents=None, add_generation_prompt, the tokenizer's bos_token/eos_token when it has them, plus extras.
"""
import json
import os
from datetime import datetime

import jinja2
from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
SHARED_CONFIG = os.path.join(REPO, "..", "shared", "qwen-tokenizer", "tokenizer_config.json")
NOW = datetime(2026, 11, 26, 9, 5, 3)


class AssistantTracker(Extension):
    """HF's {% generation %} tag: renders its body unchanged (HF also records assistant spans)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # HF's own filter: Jinja's built-in tojson escapes HTML characters, HF's does not.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return NOW.strftime(format)


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city. Température & more.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. \"Paris\""},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"},
            "days": {"type": "integer", "description": "Forecast days", "minimum": 1, "maximum": 7.5},
            "tags": {"type": "array", "items": {"type": "string"}, "description": " Extra tags "},
            "mode": {"type": ["string", "integer"], "description": "Optional mode"},
        }, "required": ["city"]},
    }},
    {"type": "function", "function": {
        "name": "get_time",
        "description": "Current time (UTC).",
        "parameters": {"type": "object", "properties": {}},
    }},
]

CONVERSATIONS = {
    "single_user": {"messages": [{"role": "user", "content": "Hello!"}]},
    "system_chat": {"messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello. How can I help?"},
        {"role": "user", "content": "What is 2+2?"},
    ]},
    "alternating": {"messages": [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "Second question"},
        {"role": "assistant", "content": "Second answer"},
        {"role": "user", "content": "Third"},
    ]},
    "unicode": {"messages": [
        {"role": "user", "content": "Héllo wörld 😀 — 中文 \"quotes\" and 'apostrophes' \\ backslash\n\nnew paragraph\ttab"},
        {"role": "assistant", "content": "  Réponse avec espaces  \n"},
        {"role": "user", "content": "Ещё раз? <tag> & stuff \u0001 ctrl"},
    ]},
    "tools": {"tools": TOOLS, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_0001", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": 2}}}]},
        {"role": "tool", "tool_call_id": "call_0001", "name": "get_weather", "content": "{\"temperature\": 18.5, \"condition\": \"cloudy\"}"},
        {"role": "assistant", "content": "It is 18.5°C and cloudy in Paris."},
        {"role": "user", "content": "Thanks!"},
    ]},
    "tools_multi": {"tools": TOOLS, "messages": [
        {"role": "user", "content": "Weather in Paris and Tokyo, and the time?"},
        {"role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_0002", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "call_0003", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "東京", "tags": ["a", "b"], "ratio": 0.25, "ok": True, "none": None}}},
            {"id": "call_0004", "type": "function", "function": {"name": "get_time", "arguments": {}}}]},
        {"role": "tool", "tool_call_id": "call_0002", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_0003", "content": "rainy"},
        {"role": "tool", "tool_call_id": "call_0004", "content": "12:00"},
        {"role": "assistant", "content": "Paris is sunny, Tokyo is rainy, it is noon."},
    ]},
    "tools_pending": {"tools": TOOLS, "messages": [
        {"role": "user", "content": "What time is it?"},
    ]},
    "thinking": {"messages": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "<think>\nI should add.\n</think>\n\nThe answer is 4."},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "<think>\nAgain.\n</think>\n\n6."},
    ]},
    "null_content": {"tools": TOOLS, "messages": [
        {"role": "user", "content": "Time?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_0005", "type": "function", "function": {"name": "get_time", "arguments": {}}}]},
    ]},
    "empty": {"messages": []},
}

LANGUAGE_CASES = [
 ("  {% if true %}\n  x\n  {% endif %}\n  {{ 'y' }}\n{# c #}\n  z\n", {}),
 ("a  {% if true %}b{% endif %}", {}),
 ("a\n  {%+ if true %}b{% endif %}", {}),
 ("{% if true -%}\n\n  x  {%- endif %}|", {}),
 ("{% if true +%}\nx{% endif %}", {}),
 ("{{ 'a' -}}   \n  {{- 'b' }}", {}),
 ("x\r\ny\rz\n", {}),
 ("{% raw %}{{ not rendered }}{% endraw %}", {}),
 ("{{ '\\x41\\u00e9\\n\\t\\\\' }}", {}),
 ("{{ \"it's\" 'adjacent' }}", {}),
 ("{% set x = 1 %}{% for i in range(3) %}{% if i == 0 %}{% set x = 5 %}{% endif %}{{ x }}{% endfor %}{{ x }}", {}),
 ("{% if true %}{% set z = 3 %}{% endif %}{{ z }}", {}),
 ("{% set ns = namespace(a=1) %}{% for i in [1, 2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}", {}),
 ("{% for a in [1, 2, 3] %}{{ loop.index0 }}{{ loop.revindex0 }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}", {}),
 ("{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }}{% endfor %}", {}),
 ("{% macro m(a, b=a ~ '!') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, b=2) }}{{ m() }}", {}),
 ("{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, k=3) }}", {}),
 ("{{ 2 ** 3 ** 2 }} {{ -2 ** 2 }} {{ -1|abs }} {{ 10 - 2 - 3 }} {{ 7 / 2 }} {{ 1 + 2 * 3 }}", {}),
 ("{{ 1.0 }} {{ 1e16 }} {{ 1e-5 }} {{ 123456789.125 }} {{ 1/3 }} {{ -0.0 }} {{ 100.0 }}", {}),
 ("{{ x }}|{{ x is defined }}|{{ x|default('d') }}|{{ x|length }}|{{ x == y }}|{% for i in x %}no{% endfor %}", {}),
 ("{{ d.a }}{{ d['a'] }}{{ d.missing }}|{{ d.items()|list }}{{ d.get('z', 0) }}", {"d": {"a": 1}}),
 ("{{ [1, 2, 3][-1] }}{{ [1, 2, 3][5] }}|{{ 'abc'[1] }}{{ 'abcdef'[1:5:2] }}{{ [1, 2, 3][::-1] }}{{ [1,2,3,4][-3:-1] }}{{ 'abc'[10:] }}", {}),
 ("{{ {'a': 1, 'b': [True, None, 1.5, 'x\"y']}|tojson }}", {}),
 ("{{ {'b': 1, 'a': {'d': 2, 'c': []}}|tojson(indent=2, sort_keys=true) }}", {}),
 ("{{ 'é\\u0001\\t'|tojson }} {{ 'é'|tojson(ensure_ascii=true) }} {{ [1, 2]|tojson(separators=(',', ':')) }}", {}),
 ("{{ ['a', 1, none, true, 1.5, ('t',), {'k': 'v'}] }} {{ \"it's\" }} {{ ['it\\'s', 'a\"b', 'both\\'\"'] }}", {}),
 ("{{ '  a  b  '.split() }}{{ 'a,b,,c'.split(',', 1) }}{{ 'a b c'.rsplit(None, 1) }}{{ 'xxhixx'.strip('x') }}{{ '\\n x \\n'.strip() }}", {}),
 ("{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'aaa'.replace('a', 'b', 2) }}{{ 'ab'.upper() }}{{ 'AB'.lower() }}{{ 'hello world'.title() }}", {}),
 ("{{ 'a' ~ 1 ~ none ~ true }}{{ 'abc' in 'xabcx' }}{{ 1 in [1.0] }}{{ 'k' in {'k': 0} }}{{ 3 not in [1] }}", {}),
 ("{{ [3, 1, 2]|sort }}{{ ['b', 'A', 'a']|sort }}{{ ['b', 'A', 'a']|sort(case_sensitive=true) }}{{ [{'n': 2}, {'n': 1}]|sort(attribute='n')|map(attribute='n')|list }}", {}),
 ("{{ [1, 2, 3, 4]|select('even')|list }}{{ [1, 2, 3, 4]|reject('even')|list }}{{ users|selectattr('active')|map(attribute='name')|join(', ') }}{{ users|rejectattr('name', 'equalto', 'a')|list|length }}", {"users": [{"name": "a", "active": True}, {"name": "b", "active": False}]}),
 ("{{ 'x'|upper }}{{ ' x '|trim }}{{ 'a-b'|replace('-', '+') }}{{ [1, 2]|join('|') }}{{ [1, 2]|first }}{{ [1, 2]|last }}{{ 'abc'|list }}{{ 42|string }}{{ '42'|int + 1 }}{{ '4.5'|float }}", {}),
 ("{{ '%s is %d years, %r' % ('Al', 30, 'x') }}|{{ '%5s|%-5s|%05d' % ('a', 'b', 42) }}|{{ '%.2f' % 3.14159 }}", {}),
 ("{{ 'text\\nmore\\n'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}", {}),
 ("{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}", {}),
 ("{% for i in [1, 2, 3] if i != 2 %}{{ i }}{{ loop.length }}{% else %}empty{% endfor %}{% for i in [] %}x{% else %}empty{% endfor %}", {}),
 ("{% set s %}captured {{ 1 }}{% endset %}[{{ s }}]{% set t | upper %}up{% endset %}{{ t }}", {}),
 ("{{ 1 if 0 else 2 }}{{ 'a' if 1 }}{{ none or 'x' }}{{ 0 and 1 }}{{ not none }}", {}),
 ("{{ dict(a=1)|items|list }} {{ {'a': 1}|dictsort }} {{ [1, 1, 2]|unique|list }} {{ [1, 5, 3]|max }} {{ [1, 5, 3]|min }} {{ [1, 2]|sum }}", {}),
 ("{{ 'é😀x'|length }}{{ 'é😀x'[1] }}{{ 'é😀x'|reverse }}{{ 'é😀x'[-1:] }}", {}),
 ("{{ 10 // 3 }} {{ -10 // 3 }} {{ 10 % -3 }} {{ -10 % 3 }} {{ 7.5 // 2 }} {{ 7.5 % 2 }} {{ true + true }}", {}),
 ("{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ 1 == true }}{{ none == none }}{{ 1 != 1.0 }}", {}),
 ("{{ \"it's 3rd-time (oK) [x]\"|title }}|{{ 'it\\'s 3rd'.title() }}|{{ 'a-b c_d, e1'|wordcount }}|{{ 'ab'|center(5) }}|{{ 'x'|center(4) }}", {}),
 ("{{ {'a': 1} == {'a': 1.0} }}{{ [1, 2, 3]|join }}{{ none|string }}{{ none|default('x') }}{{ [1, 2]|length > 1 }}{{ 'a' if 'b' in 'abc' else 'c' }}", {}),
 ("{{ range(3)|list }}{{ range(1, 10, 3)|list }}{{ range(5, 0, -2)|list }}{{ (1, 2) + (3,) }}{{ [1] * 3 }}[{{ 'ab' * 0 }}]", {}),
 ("{{ 3.0 == 3 }} {{ 0.1 * 3 }} {{ 1e100 }} {{ 2 ** -1 }} {{ 2 ** 0.5 }} {{ 5 // 2.0 }} {{ 1 + true }} {{ -x }} {{ 'a' < 'B' }}", {"x": 2.5}),
 ("{{ '%s' % [1, 'a'] }}|{{ 'x'.join(['a', 'b']) }}|{{ d|dictsort(by='value', reverse=true) }}|{{ [{'a': 1}, {'a': 2}]|map(attribute='a')|sum }}|{{ [{'a': 1}, {}]|map(attribute='a', default='z')|list }}", {"d": {"x": 2, "y": 3, "z": 1}}),
 ("{{ {'a': [1, {'b': 2}]}|tojson(indent='\\t') }}|{{ {'k': 'v'}|items|list }}|{{ 'a.b.c'.split('.', 1) }}{{ 'abc'.find('c') }}{{ 'abcb'.count('b') }}{{ 'AbC'.swapcase() }}{{ '12'.isdigit() }}{{ '3'.zfill(3) }}{{ '-3'.zfill(4) }}", {}),
 ("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set x = [1, 2] %}{% set y = x + [3] %}{{ x }}{{ y }}{{ loop is defined }}{% for c in 'ab' %}{{ c }}{% endfor %}{% for k in {'a': 1, 'b': 2} %}{{ k }}{% endfor %}", {}),
 ("{{ 'abc'[-1] }}{{ 'abc'[5] }}{{ 1.5|int }}{{ -1.5|int }}{{ '0x1A'|int(0, 16) }}{{ '12'|int(base=8) }}|{{ '%5.1f|%-4d|%x' % (3.14159, 7, 255) }}|{{ '{0}-{name}'.format(1, name='n') }}", {}),
 ("{{ [3, 1]|sort|first }}[{{ []|first }}]{{ 'abc'|first }}{{ 'abc'|last }}{{ [1, 2, 3]|reverse|list }}{{ {'p': 1, 'q': 2}.items()|map('first')|list }}{{ 'a'|lower is lower }}{{ l.0 }}{{ l.1 }}", {"l": [7, 8]}),
 ("a {%- if true %} x {% endif -%}\n\ny|a  {#- c -#}  b|{{- ' x ' -}}|\t{% if true %}t{% endif %}|{%- raw -%}  r  {%- endraw -%}|{% filter trim %}  f  {% endfilter %}", {}),
 ("{% macro m(a, b) %}{{ a }}{{ b }}{% endmacro %}{{ m(b=2, a=1) }}{{ m(1) }}|{% for i in [1, 2] %}{% for j in [3, 4] %}{{ loop.index }}{{ i }}{{ j }} {% endfor %}{{ loop.index }}|{% endfor %}", {}),
 ("{% for m in messages %}{{ loop.changed(m.r) }}{% endfor %}|{{ messages|groupby is defined }}|{{ messages|selectattr('r', 'ne', 'a')|list|length }}|{{ messages|map(attribute='r')|unique|list }}", {"messages": [{"r": "a"}, {"r": "a"}, {"r": "b"}]}),
 ("{{ 'x\\u00e9\\U0001F600\\101\\q' }}|{{ 'a\\\nb' }}|{{ '\"' ~ \"'\" }}|{{ [\"\\n\", '\\x00'] }}|{{ 'Ǆ'|lower }}{{ 'ŉ'|length }}", {}),
 ("{{ 7 is divisibleby 3 }}{{ 6 is divisibleby(3) }}{{ 'a' is in 'abc' }}{{ 2 is gt 1 }}{{ x is callable }}{{ range is callable }}{{ true is sameas true }}{{ 1 is sameas true }}{{ [] is sequence }}{{ 1 is iterable }}", {"x": 1}),
 ("{{ x is string }}{{ x is mapping }}{{ n is number }}{{ n is integer }}{{ f is float }}{{ none is none }}{{ b is boolean }}{{ l is iterable }}{{ l is sequence }}{{ n is odd }}{{ 5 is equalto 5 }}{{ x is not none }}", {"x": "s", "n": 3, "f": 1.5, "b": True, "l": []}),
]

# Special tokens as the models' tokenizers define them (None: the tokenizer has none, the variable is not passed).
TEMPLATES = {
    "qwen15": {"file": "templates/qwen15.jinja", "bos_token": None, "eos_token": "<|endoftext|>"},
    "qwen3_shared": {"shared": "qwen-tokenizer/tokenizer_config.json", "bos_token": None, "eos_token": "<|im_end|>",
                     "variants": [{}, {"enable_thinking": False}]},
    "chatml": {"file": "templates/chatml.jinja", "bos_token": None, "eos_token": "<|im_end|>"},
    "chatml_multiline": {"file": "templates/chatml_multiline.jinja", "bos_token": None, "eos_token": "<|im_end|>"},
    "qwen25_tools": {"file": "templates/qwen25_tools.jinja", "bos_token": None, "eos_token": "<|im_end|>"},
    "llama3": {"file": "templates/llama3.jinja", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama31_tools": {"file": "templates/llama31_tools.jinja", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama2": {"file": "templates/llama2.jinja", "bos_token": "<s>", "eos_token": "</s>"},
    "mistral_v1": {"file": "templates/mistral_v1.jinja", "bos_token": "<s>", "eos_token": "</s>"},
    "mistral_v3_tools": {"file": "templates/mistral_v3_tools.jinja", "bos_token": "<s>", "eos_token": "</s>"},
    "gemma": {"file": "templates/gemma.jinja", "bos_token": "<bos>", "eos_token": "<eos>"},
    "phi3": {"file": "templates/phi3.jinja", "bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "deepseek_llm": {"file": "templates/deepseek_llm.jinja", "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "deepseek_r1_style": {"file": "templates/deepseek_r1_style.jinja", "bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"},
    "zephyr": {"file": "templates/zephyr.jinja", "bos_token": "<s>", "eos_token": "</s>"},
    "vicuna": {"file": "templates/vicuna.jinja", "bos_token": "<s>", "eos_token": "</s>"},
    "hermes_tools": {"file": "templates/hermes_tools.jinja", "bos_token": "<s>", "eos_token": "<|im_end|>"},
    "language_tour": {"file": "templates/language_tour.jinja", "bos_token": None, "eos_token": None},
}


def template_source(spec):
    if "file" in spec:
        with open(os.path.join(HERE, spec["file"]), encoding="utf-8", newline="") as f:
            return f.read()
    with open(SHARED_CONFIG, encoding="utf-8") as f:
        return json.load(f)["chat_template"]


def render(env, source, spec, conversation, add_generation_prompt, variables):
    kwargs = {}
    if spec["bos_token"] is not None:
        kwargs["bos_token"] = spec["bos_token"]
    if spec["eos_token"] is not None:
        kwargs["eos_token"] = spec["eos_token"]
    kwargs.update(variables)
    template = env.from_string(source)
    return template.render(messages=conversation["messages"], tools=conversation.get("tools"), documents=None,
                           add_generation_prompt=add_generation_prompt, **kwargs)


def main():
    env = environment()
    cases = []
    for name, spec in TEMPLATES.items():
        source = template_source(spec)
        for conv_name, conversation in CONVERSATIONS.items():
            for agp in (True, False):
                for variables in spec.get("variants", [{}]):
                    case = {"template": name, "conversation": conv_name, "add_generation_prompt": agp, "variables": variables}
                    try:
                        case["expected"] = render(env, source, spec, conversation, agp, variables)
                    except Exception as e:  # the template refuses this conversation: our engine must refuse it too
                        case["error_type"] = type(e).__name__
                        case["error"] = str(e)
                    cases.append(case)
    out = {
        "generator": f"make_fixtures.py with jinja2 {jinja2.__version__}",
        "now": NOW.isoformat(),
        "templates": {k: {kk: vv for kk, vv in v.items()} for k, v in TEMPLATES.items()},
        "conversations": CONVERSATIONS,
        "cases": cases,
    }
    with open(os.path.join(HERE, "fixtures.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    language = []
    for source, variables in LANGUAGE_CASES:
        case = {"source": source, "vars": variables}
        try:
            case["expected"] = env.from_string(source).render(**variables)
        except Exception as e:
            case["error"] = f"{type(e).__name__}: {e}"
        language.append(case)
    with open(os.path.join(HERE, "language_cases.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(language, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for c in cases if "error" in c)
    print(f"{len(language)} language cases; {len(cases)} cases ({errors} expected errors) from {len(TEMPLATES)} templates x {len(CONVERSATIONS)} conversations")


if __name__ == "__main__":
    main()
