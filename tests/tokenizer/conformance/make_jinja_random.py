#!/usr/bin/env python3
# Writes jinja_random.json: random templates over the Jinja subset chat templates use (if/elif/else,
# for with loop.* and else, set and namespace, macros and call blocks, recursive loops, filters,
# tests, slicing, string methods, % and str.format, whitespace control, raise_exception) with
# messages/tools contexts, and what Jinja2 renders for each, set up as transformers sets it up
# (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, raise_exception,
# strftime_now, a tojson that keeps non-ASCII text). JinjaTest renders them with the interpreter and
# compares: the text, the raise_exception message, or that both refuse the template.
#
# Left out are the differences the interpreter documents (models/chat/README.md): range() gives a
# list (Jinja2 a range object, printed range(0, 3)), functions and macros print as <function>,
# integers beyond 64 bits are refused.
#
# usage: make_jinja_random.py [COUNT]   (needs jinja2 3.1; run again after editing)
import json
import os
import random
import re
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

STRS = ["", "a", "hi", " x ", "Hello World", "user", "assistant", "system", "tool", "<|im_start|>", "\n", "é", "你好",
        "a,b,c", "  lead", "trail  ", "'q'", '"dq"', "\\", "{{", "%", "{}", "ß", "Σ", "😀", "ab\ncd", "\t"]
KEYS = ["role", "content", "name", "tool_calls", "x", "id"]


def wrapped(s):
    if not s.startswith("("):
        return False
    depth, q, i = 0, None, 0
    while i < len(s):
        ch = s[i]
        if q:
            if ch == "\\":
                i += 1
            elif ch == q:
                q = None
        elif ch in "'\"":
            q = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i == len(s) - 1
        i += 1
    return False


def lit_str(r):
    s = r.choice(STRS)
    q = r.choice(["'", '"'])
    out = ""
    for ch in s:
        if ch == q or ch == "\\":
            out += "\\" + ch
        elif ch == "\n":
            out += "\\n"
        elif ch == "\t":
            out += "\\t"
        else:
            out += ch
    return q + out + q


class Gen:
    def __init__(self, r):
        self.r = r
        self.scopes = [dict()]  # name -> kind
        self.macros = {}  # name -> nparams
        self.in_loop = 0
        self.nodes = 0

    def vars_of(self, kind):
        out = []
        for s in self.scopes:
            for n, k in s.items():
                if kind is None or k == kind or (kind == "any"):
                    out.append(n)
        return out

    def define(self, name, kind):
        self.scopes[-1][name] = kind

    # ---------------- expressions ----------------
    def expr(self, kind, d=0):
        self.nodes += 1
        r = self.r
        if d > 3 or self.nodes > 250:
            return self.atom(kind)
        f = getattr(self, "e_" + kind)
        if r.random() < 0.08:
            out = self.generic(kind, d)
        else:
            out = f(d)
        if re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*|[0-9.e]+", out) or wrapped(out):
            return out
        return "(" + out + ")"

    def generic(self, kind, d):
        r = self.r
        c = r.randrange(4)
        if c == 0:
            return "(%s if %s else %s)" % (self.expr(kind, d + 1), self.expr("bool", d + 1), self.expr(kind, d + 1))
        if c == 1:
            vs = self.vars_of(kind)
            if vs:
                return r.choice(vs)
        if c == 2:
            return "(%s|default(%s))" % (r.choice(["undefined_var", "messages[0].nope", "ns0.nope"]), self.expr(kind, d + 1))
        return self.atom(kind)

    def atom(self, kind):
        r = self.r
        vs = self.vars_of(kind)
        if vs and r.random() < 0.4:
            return r.choice(vs)
        if kind == "str":
            return lit_str(r)
        if kind == "int":
            return str(r.choice([0, 1, 2, 3, -1, 5, 10, 7]))
        if kind == "float":
            return r.choice(["0.5", "1.0", "2.5", "-1.25", "3.14", "1e3", "0.1"])
        if kind == "bool":
            return r.choice(["true", "false", "True", "none is none", "add_generation_prompt"])
        if kind == "list":
            return r.choice(["messages", "[]", "[1, 2, 3]", "['a', 'b']", "tools", "[none, 0, '']"])
        if kind == "dict":
            return r.choice(["{}", "messages[0]", "{'a': 1}", "{1: 'a', 2: 'b'}", "tools[0]"])
        if kind == "msg":
            return r.choice(["messages[0]", "messages[-1]"])
        return "none"

    def e_str(self, d):
        r = self.r
        c = r.randrange(34)
        e = lambda k: self.expr(k, d + 1)
        if c == 0:
            return lit_str(r)
        if c == 1:
            return "%s.%s" % (e("msg"), r.choice(["role", "content"]))
        if c == 2:
            return "%s['%s']" % (e("msg"), r.choice(["role", "content", "name"]))
        if c == 3:
            return "(%s|%s)" % (e("str"), r.choice(["trim", "upper", "lower", "string", "title", "capitalize", "safe", "length|string", "first", "last", "reverse|join"]))
        if c == 4:
            return "(%s ~ %s)" % (e(r.choice(["str", "int", "float", "bool", "list"])), e(r.choice(["str", "int", "bool"])))
        if c == 5:
            return "(%s + %s)" % (e("str"), e("str"))
        if c == 6:
            return "%s[%s]" % (e("str"), self.slice())
        if c == 7:
            return "(%s|join(%s))" % (e("list"), lit_str(r))
        if c == 8:
            return "(%s|replace(%s, %s))" % (e("str"), lit_str(r), lit_str(r))
        if c == 9:
            return "(%s|tojson)" % e(r.choice(["str", "list", "dict", "int", "float", "bool", "msg"]))
        if c == 10:
            return "(%s|indent(%s%s))" % (e("str"), r.choice(["2", "4", "1"]), r.choice(["", ", true", ", first=true", ", blank=true"]))
        if c == 11:
            return "%s.%s()" % (e("str"), r.choice(["strip", "lstrip", "rstrip", "upper", "lower", "title"]))
        if c == 12:
            return "%s.split(%s)|join(%s)" % (e("str"), r.choice(["", "','", "' '", "'\\n'"]), lit_str(r))
        if c == 13:
            return "(%s|string)" % e(r.choice(["int", "float", "list", "dict", "bool", "msg"]))
        if c == 14 and self.macros:
            name = r.choice(list(self.macros))
            n = self.macros[name]
            args = [e(r.choice(["str", "int"])) for _ in range(r.randrange(n + 1))]
            return "%s(%s)" % (name, ", ".join(args))
        if c == 15:
            return "(%s|first)" % e("list")
        if c == 16:
            return "(%s|last)" % e("list")
        if c == 17:
            return "%s[%s]" % (e("list"), e("int"))
        if c == 18 and self.in_loop:
            return r.choice(["loop.cycle('a', 'b')", "(loop.previtem|string)", "(loop.nextitem|string)"])
        if c == 19:
            return "(%s|map(attribute='role')|join(%s))" % (e("list"), lit_str(r))
        if c == 20:
            return "('%s' %% %s)" % (r.choice(["%s", "%d", "%s-%s", "%r", "%5s", "%.2f"]), e(r.choice(["str", "int", "float"])))
        if c == 21:
            return "(%s|items|list|string)" % e("dict")
        if c == 22:
            return "(%s|int|string)" % e(r.choice(["str", "float"]))
        if c >= 24:
            return self.e_str_extra(d)
        if c == 23 and self.vars_of("ns"):
            n = r.choice(self.vars_of("ns"))
            return "(%s.%s|string)" % (n, r.choice(["a", "b", "s"]))
        return lit_str(r)

    def e_str_extra(self, d):
        r = self.r
        e = lambda k: self.expr(k, d + 1)
        c = r.randrange(30)
        if c == 0:
            return "%s.format(%s)" % (r.choice(["'{}'", "'{0}-{0}'", "'{:>5}'", "'{!r}'", "'{:.2f}'", "'{:,}'", "'{a}'", "'{:^7}'", "'{0[role]}'"]), e(r.choice(["str", "int", "float", "msg"])) + r.choice(["", ", a=1"]))
        if c == 1:
            return "%s.%s(%s)" % (e("str"), r.choice(["ljust", "rjust", "center", "zfill"]), r.choice(["5", "8, '*'", "0", "3, 'é'"]))
        if c == 2:
            return "(%s.%s(%s)|string)" % (e("str"), r.choice(["partition", "rpartition"]), lit_str(r))
        if c == 3:
            return "(%s.%s(%s)|join('|'))" % (e("str"), r.choice(["split", "rsplit"]), r.choice(["',', 1", "None, 1", "' ', -1", "'a', 0"]))
        if c == 4:
            return "(%s.splitlines()|join('/'))" % e("str")
        if c == 5:
            return "%s.%s()" % (e("str"), r.choice(["title", "capitalize", "swapcase", "upper"]))
        if c == 6:
            return "(%s.%s()|string)" % (e("str"), r.choice(["isdigit", "isalpha", "isspace", "isupper", "islower", "istitle", "isalnum", "isnumeric", "isdecimal"]))
        if c == 7:
            return "%s.replace(%s, %s, %s)" % (e("str"), lit_str(r), lit_str(r), r.choice(["1", "0", "-1", "2"]))
        if c == 8:
            return "%s.%s(%s)" % (e("str"), r.choice(["removeprefix", "removesuffix", "strip", "lstrip", "rstrip"]), lit_str(r))
        if c == 9:
            return "(%s|%s)" % (e("list"), r.choice(["min", "max", "sum", "unique|list", "sort(reverse=true)", "join(', ')", "pprint", "count", "length", "first", "last", "list", "sort(attribute='role')", "map('string')|join", "batch(2, 'x')|list", "slice(2)|list", "groupby('role')|list", "select('odd')|list", "reject('even')|list", "selectattr('role', 'defined')|list", "map(attribute='role', default='d')|list", "join(attribute='role')", "sum(attribute='x')", "reverse|list"]))
        if c == 10:
            return "(%s|%s)" % (e("str"), r.choice(["center(9)", "wordcount", "truncate(5, true, '..', 0)", "title", "capitalize", "count", "format(1)", "e", "escape", "forceescape", "trim('x')", "int(0, 16)", "float(1.5)", "list|join('.')", "urlencode", "wordwrap(5)", "reverse", "replace('a', 'b', 1)", "indent(2, true, true)"]))
        if c == 11:
            return "(%s|%s)" % (e("int"), r.choice(["abs", "string", "float", "round(1)", "int", "tojson"]))
        if c == 12:
            return "('%s' %% (%s, %s))" % (r.choice(["%s=%s", "%d-%r", "%5.1f|%-4s", "%x%o", "%c%s", "%e %g"]), e(r.choice(["int", "float"])), e(r.choice(["str", "int"])))
        if c == 13:
            return "(%s * %s)" % (e(r.choice(["str", "list"])), r.choice(["0", "1", "2", "3", "-1"]))
        if c == 14:
            return "((%s, %s)|string)" % (e("str"), e("int"))
        if c == 15:
            return "(%s|tojson(indent=%s))" % (e(r.choice(["msg", "dict", "list"])), r.choice(["2", "4", "0", "None"]))
        if c == 16:
            return "(%s|tojson(sort_keys=true))" % e(r.choice(["msg", "dict"]))
        if c == 17:
            return "(%s|dictsort|string)" % e("dict")
        if c == 18:
            return "(%s ** %s|string)" % (e(r.choice(["int", "float"])), r.choice(["2", "0.5", "-1", "10", "64", "65"]))
        if c == 19:
            return "(%s|string)" % r.choice(["(%s // %s)", "(%s %% %s)", "(%s / %s)"]) % (e(r.choice(["int", "float"])), e(r.choice(["int", "float"])))
        if c == 20:
            return "(%s|string)" % r.choice(["1e16", "1e15", "0.1 + 0.2", "1/3", "2**53 + 1", "1e-5", "123456789.123", "-0.0", "1.5e300 * 1e10", "10**20", "9223372036854775807 + 1", "(2**63)|float", "3 // -2", "-7 % 3", "7.5 // 2"])
        if c == 21 and self.in_loop:
            return "(loop.changed(%s)|string)" % e("str")
        if c == 22:
            return "('%s'|format(%s))" % (r.choice(["%s", "%s-%s", "%(a)s"]), e("str"))
        if c == 23:
            return "(%s|string)" % r.choice(["joiner(', ')()", "cycler('a', 'b').next()", "cycler('a').current", "namespace(x=1).x", "dict(a=1, b=2)|dictsort"])
        if c == 24:
            return "(%s[%s]|string)" % (e("dict"), e(r.choice(["str", "int"])))
        if c == 25:
            return "(%s.get(%s, %s)|string)" % (e("dict"), e(r.choice(["str", "int"])), lit_str(r))
        if c == 26:
            return "(%s|items|map('first')|join(','))" % e("dict")
        if c == 27:
            return "(%s is %s|string)" % (e(r.choice(["int", "float", "str", "list", "bool"])), r.choice(["odd", "even", "divisibleby 3", "sameas none", "number", "integer", "float", "boolean", "callable", "lower", "upper", "eq 1", "ne 'a'", "lt 3", "ge 0", "sequence", "true", "false"]))
        if c == 28:
            return "(%s < %s < %s)|string" % (e("int"), e("int"), e("int"))
        return "(%s|attr('%s')|string)" % (e(r.choice(["msg", "str", "dict"])), r.choice(["role", "x"]))

    def slice(self):
        r = self.r
        a = r.choice(["", "1", "-1", "0", "2", "-2"])
        b = r.choice(["", "1", "-1", "3", "-2"])
        c = r.random()
        if c < 0.3:
            return a
        if c < 0.8:
            return a + ":" + b
        return a + ":" + b + ":" + r.choice(["-1", "2", "1", "-2"])

    def e_int(self, d):
        r = self.r
        e = lambda k: self.expr(k, d + 1)
        c = r.randrange(12)
        if c == 0:
            return "(%s|length)" % e(r.choice(["str", "list", "dict"]))
        if c == 1:
            return "(%s %s %s)" % (e("int"), r.choice(["+", "-", "*", "//", "%"]), e("int"))
        if c == 2 and self.in_loop:
            return "loop.%s" % r.choice(["index", "index0", "revindex", "revindex0", "length", "depth"])
        if c == 3:
            return "(%s|int)" % e(r.choice(["str", "float", "bool"]))
        if c == 4:
            return "(%s|round|int)" % e("float")
        if c == 5:
            return "(%s|sum)" % r.choice(["[1, 2]", "range(4)", "[]"])
        if c == 6:
            return "(%s ** %s)" % (e("int"), r.choice(["0", "1", "2", "3"]))
        if c == 7:
            return "-%s" % e("int")
        if c == 8:
            return "%s.%s(%s)" % (e("str"), r.choice(["find", "count", "rfind"]), lit_str(r))
        if c == 9 and self.vars_of("ns"):
            return "%s.%s" % (r.choice(self.vars_of("ns")), r.choice(["n", "a"]))
        return self.atom("int")

    def e_float(self, d):
        r = self.r
        e = lambda k: self.expr(k, d + 1)
        c = r.randrange(6)
        if c == 0:
            return "(%s / %s)" % (e(r.choice(["int", "float"])), e(r.choice(["int", "float"])))
        if c == 1:
            return "(%s|float)" % e(r.choice(["str", "int"]))
        if c == 2:
            return "(%s|round(%s%s))" % (e("float"), r.choice(["0", "1", "2"]), r.choice(["", ", 'floor'", ", 'ceil'"]))
        if c == 3:
            return "(%s %s %s)" % (e("float"), r.choice(["+", "-", "*", "%", "//"]), e(r.choice(["int", "float"])))
        return self.atom("float")

    def e_bool(self, d):
        r = self.r
        e = lambda k: self.expr(k, d + 1)
        c = r.randrange(12)
        any_kind = r.choice(["str", "int", "list", "dict", "bool", "float", "msg"])
        if c == 0:
            return "(%s %s %s)" % (e("int"), r.choice(["==", "!=", "<", "<=", ">", ">="]), e(r.choice(["int", "float"])))
        if c == 1:
            return "(%s %s %s)" % (e("str"), r.choice(["==", "!=", "<", ">"]), e("str"))
        if c == 2:
            tests = ["defined", "undefined", "none", "string", "mapping", "iterable", "number", "sequence", "boolean", "integer", "float",
                     "equalto %s" % lit_str(r), "in %s" % self.atom("list"), "true", "false", "lower", "upper"]
            return "(%s is %s%s)" % (self.maybe_undef(any_kind, d), r.choice(["", "not "]), r.choice(tests))
        if c == 3:
            return "(%s %s %s)" % (e("bool"), r.choice(["and", "or"]), e("bool"))
        if c == 4:
            return "not %s" % e("bool")
        if c == 5:
            return "(%s %s %s)" % (e("str"), r.choice(["in", "not in"]), e(r.choice(["str", "list", "dict"])))
        if c == 6:
            return "%s.%s(%s)" % (e("str"), r.choice(["startswith", "endswith"]), lit_str(r))
        if c == 7:
            return "(%s|length > %s)" % (e("list"), e("int"))
        if c == 8:
            return "(%s)" % e(any_kind)  # truthiness via if
        if c == 9 and self.in_loop:
            return r.choice(["loop.first", "loop.last", "loop.changed(%s)" % e("str")])
        if c == 10:
            return "(%s == %s)" % (e(any_kind), e(r.choice(["str", "int", "list", "dict", "bool", "float"])))
        return self.atom("bool")

    def maybe_undef(self, kind, d):
        r = self.r
        if r.random() < 0.25:
            return r.choice(["undefined_var", "messages[0].nope", "messages[0]['name']", "tools", "documents", "add_generation_prompt", "messages[-1].tool_calls"])
        return self.expr(kind, d + 1)

    def e_list(self, d):
        r = self.r
        e = lambda k: self.expr(k, d + 1)
        c = r.randrange(14)
        if c == 0:
            return "[%s]" % ", ".join(e(r.choice(["str", "int", "bool"])) for _ in range(r.randrange(4)))
        if c == 1:
            return "%s[%s]" % (e("list"), self.slice())
        if c == 2:
            return "(%s|selectattr('role', 'equalto', %s)|list)" % (e("list"), lit_str(r))
        if c == 3:
            return "(%s|rejectattr('%s')|list)" % (e("list"), r.choice(["content", "name", "tool_calls"]))
        if c == 4:
            return "(%s|map(attribute='%s')|list)" % (e("list"), r.choice(KEYS))
        if c == 5:
            return "range(%s)" % r.choice(["3", "0", "1, 4", "5, 0, -2", "%s" % self.atom("int")])
        if c == 6:
            return "(%s|%s|list)" % (e("list"), r.choice(["reverse", "sort", "unique", "select", "reject", "map('string')", "map('upper')", "select('string')", "reject('none')"]))
        if c == 7:
            return "(%s|items|list)" % e("dict")
        if c == 8:
            return "%s.split(%s)" % (e("str"), r.choice(["", "','", "' '", "'a'"]))
        if c == 9:
            return "(%s + %s)" % (e("list"), e("list"))
        if c == 10:
            return "(%s|list)" % e(r.choice(["str", "dict"]))
        if c == 11:
            return "%s.%s()|list" % (e("dict"), r.choice(["keys", "values", "items"]))
        if c == 12:
            return "(%s|batch(2)|list)" % e("list")
        return self.atom("list")

    def e_dict(self, d):
        r = self.r
        e = lambda k: self.expr(k, d + 1)
        c = r.randrange(5)
        if c == 0:
            items = []
            for _ in range(r.randrange(4)):
                k = r.choice([lit_str(r), str(r.randrange(-2, 4)), "true", "none", "1.0"]) if r.random() < 0.5 else "'%s'" % r.choice(KEYS)
                items.append("%s: %s" % (k, e(r.choice(["str", "int", "list", "bool"]))))
            return "{%s}" % ", ".join(items)
        if c == 1:
            return "dict(%s)" % ", ".join("%s=%s" % (k, e("str")) for k in r.sample(KEYS, r.randrange(3)))
        if c == 2:
            return e("msg")
        return self.atom("dict")

    def e_msg(self, d):
        r = self.r
        c = r.randrange(3)
        if c == 0:
            return "messages[%s]" % self.expr("int", d + 1)
        vs = self.vars_of("msg")
        if vs:
            return r.choice(vs)
        return self.atom("msg")

    # ---------------- statements ----------------
    def tag(self, body):
        r = self.r
        lm = r.choice(["", "", "", "-", "+"])
        rm = r.choice(["", "", "", "-"])
        return "{%" + lm + " " + body + " " + rm + "%}"

    def ws(self):
        r = self.r
        return r.choice(["", "", "", "\n", " ", "  ", "\n  ", "\n\n", " \n", "\t"])

    def text(self):
        r = self.r
        return r.choice(["", "<|im_start|>", "x", "\n", " - ", "[", "]", ": ", "<s>", "\n    ", "A B", "}", "{ "]) + self.ws()

    def block(self, d, n=None):
        r = self.r
        if n is None:
            n = r.randrange(1, 4)
        return "".join(self.stmt(d) for _ in range(n))

    def push(self):
        self.scopes.append(dict())

    def pop(self):
        self.scopes.pop()

    def stmt(self, d):
        r = self.r
        self.nodes += 1
        if d > 3 or self.nodes > 250:
            c = r.choice([0, 1, 1, 2])
        else:
            c = r.randrange(20)
        if c == 0:
            return self.text()
        if c in (1, 2, 3):
            lm = r.choice(["", "", "-"])
            rm = r.choice(["", "", "-"])
            return self.ws() + "{{" + lm + " " + self.expr(r.choice(["str", "str", "int", "float", "bool", "list", "dict", "msg"])) + " " + rm + "}}" + self.ws()
        if c in (4, 5):
            out = self.tag("if " + self.expr("bool")) + self.ws()
            self.push(); out += self.block(d + 1); self.pop()
            for _ in range(r.randrange(3)):
                out += self.tag("elif " + self.expr("bool")) + self.ws()
                self.push(); out += self.block(d + 1); self.pop()
            if r.random() < 0.5:
                out += self.tag("else") + self.ws()
                self.push(); out += self.block(d + 1); self.pop()
            return out + self.tag("endif") + self.ws()
        if c in (6, 7):
            src_kind = r.choice(["msgs", "list", "dict", "str", "items"])
            if src_kind == "msgs":
                var, kind, it = r.choice(["message", "m"]), "msg", r.choice(["messages", "messages[1:]", "messages|reverse", "messages|selectattr('role', 'ne', 'system')"])
                head = "%s in %s" % (var, it)
                vars_ = [(var, kind)]
            elif src_kind == "items":
                head = "k, v in %s" % r.choice(["%s.items()" % self.expr("dict", 1), "%s|items" % self.expr("dict", 1), "%s|dictsort" % self.expr("dict", 1)])
                vars_ = [("k", "str"), ("v", "any")]
            elif src_kind == "dict":
                head = "k in %s" % self.expr("dict", 1)
                vars_ = [("k", "str")]
            elif src_kind == "str":
                head = "ch in %s" % self.expr("str", 1)
                vars_ = [("ch", "str")]
            else:
                head = "i in %s" % self.expr("list", 1)
                vars_ = [("i", "any")]
            if r.random() < 0.25:
                self.push()
                for n, k in vars_:
                    self.define(n, k)
                head += " if " + self.expr("bool", 2)
                self.pop()
            out = self.tag("for " + head) + self.ws()
            self.push()
            for n, k in vars_:
                self.define(n, k)
            self.in_loop += 1
            out += self.block(d + 1)
            if r.random() < 0.2:
                out += self.tag("if " + self.expr("bool", 2)) + self.tag(r.choice(["break", "continue"])) + self.tag("endif")
                out += self.block(d + 1, 1)
            self.in_loop -= 1
            self.pop()
            if r.random() < 0.3:
                out += self.tag("else") + self.ws()
                self.push(); out += self.block(d + 1); self.pop()
            return out + self.tag("endfor") + self.ws()
        if c in (8, 9):
            name = r.choice(["x", "y", "s", "n", "msg0", "out"])
            kind = {"x": "str", "y": "int", "s": "str", "n": "int", "msg0": "msg", "out": "list"}[name]
            val = self.expr(kind)
            self.define(name, kind)
            return self.tag("set %s = %s" % (name, val)) + self.ws()
        if c == 10:
            if r.random() < 0.3:
                name = r.choice(["ns0", "ns1"])
                self.define(name, "ns")
                return self.tag("set %s = namespace(a=%s, n=0, s='')" % (name, self.expr("str"))) + self.ws()
            n = r.choice(self.vars_of("ns") or ["ns0"])
            attr = r.choice(["a", "n", "s", "b"])
            val = self.expr("int" if attr == "n" else "str")
            return self.tag("set %s.%s = %s" % (n, attr, val)) + self.ws()
        if c == 11:
            name = "mac%d" % len(self.macros)
            nparams = r.randrange(3)
            params = ["p%d" % i for i in range(nparams)]
            ndef = r.randrange(nparams + 1)
            ps = ", ".join(p + (("=" + lit_str(r)) if i >= nparams - ndef else "") for i, p in enumerate(params))
            self.push()
            for p in params:
                self.define(p, "str")
            body = self.block(d + 1)
            self.pop()
            self.macros[name] = nparams
            return self.tag("macro %s(%s)" % (name, ps)) + body + self.tag("endmacro") + self.ws()
        if c == 12:
            self.push()
            body = self.block(d + 1)
            self.pop()
            self.define("blk", "str")
            return self.tag("set blk") + body + self.tag("endset") + self.ws()
        if c == 13:
            return self.tag("if %s" % self.expr("bool")) + "{{ raise_exception(%s) }}" % lit_str(r) + self.tag("endif")
        if c == 14:
            self.push()
            body = self.block(d + 1)
            self.pop()
            return self.tag("filter %s" % r.choice(["upper", "trim", "lower", "indent(2)", "replace('a', 'b')"])) + body + self.tag("endfilter")
        if c == 16 and self.macros:
            name = r.choice(list(self.macros))
            self.push()
            self.define("q", "str")
            body = self.block(d + 1)
            self.pop()
            params = r.choice(["", "(q)", "(q, z='Z')"])
            return self.tag("call%s %s(%s)" % (params, name, ", ".join(self.expr("str", 2) for _ in range(r.randrange(self.macros[name] + 1))))) + body + self.tag("endcall")
        if c == 17:
            name = "wrap%d" % len(self.macros)
            self.macros[name] = 1
            return self.tag("macro %s(p0='w')" % name) + "<{{ p0 }}>" + r.choice(["{{ caller() }}", "{{ caller('c') }}", "{% if caller is defined %}{{ caller() }}{% endif %}", "{{ varargs }}{{ kwargs }}"]) + self.tag("endmacro")
        if c == 18:
            data = r.choice(["messages", "[1, [2, [3, []]], 4]", "[{'c': [{'c': []}]}, {'c': []}]", "tools"])
            self.push(); self.define("it", "any"); self.in_loop += 1
            inner = self.block(d + 1, 1)
            self.in_loop -= 1; self.pop()
            return self.tag("for it in %s recursive" % data) + "{{ loop.depth }}" + inner + r.choice(["{% if it is iterable and it is not string and it is not mapping %}[{{ loop(it) }}]{% endif %}", "{% if it.c is defined %}({{ loop(it.c) }}){% endif %}", "{% if it.content is string %}{{ it.content }}{% endif %}"]) + self.tag("endfor")
        if c == 19:
            a, b = r.choice([("x", "y"), ("s", "n")])
            self.define(a, "any"); self.define(b, "any")
            return self.tag("set %s, %s = %s" % (a, b, r.choice(["1, 2", "'ab'", "[3, 4]", "messages[0]|items|first", "(1,)", "{'a': 1, 'b': 2}"]))) + self.ws()
        return "{# c #}" + self.ws()


def context(r):
    roles = ["system", "user", "assistant", "tool", "user", "assistant"]
    msgs = []
    start = r.randrange(2)
    for i in range(r.randrange(1, 5)):
        role = roles[(start + i) % len(roles)] if r.random() < 0.8 else r.choice(roles)
        m = {"role": role, "content": r.choice(STRS + ["What is 2+2?", "The answer is 4.", "  spaced  "])}
        if r.random() < 0.15:
            m["content"] = [{"type": "text", "text": "hi"}]
        if r.random() < 0.1:
            m["content"] = None
        if role == "assistant" and r.random() < 0.3:
            m["tool_calls"] = [{"type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": "é"}}}]
        if r.random() < 0.1:
            m["name"] = "bob"
        msgs.append(m)
    ctx = {"messages": msgs, "add_generation_prompt": r.random() < 0.5,
           "bos_token": "<s>", "eos_token": "</s>"}
    if r.random() < 0.5:
        ctx["tools"] = [{"type": "function", "function": {"name": "get", "description": "d", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}]
    else:
        ctx["tools"] = None
    ctx["documents"] = None
    return ctx


def make(seed):
    r = random.Random(seed)
    g = Gen(r)
    g.scopes[0]["ns0"] = "ns"
    src = "{%- set ns0 = namespace(a='A', n=0, s='') -%}" * (r.random() < 0.95) + g.block(0, r.randrange(2, 7))
    if r.random() < 0.3:
        src += "\n"
    return {"seed": seed, "t": src, "c": context(r)}



class Raised(jinja2.exceptions.TemplateError):
    pass


class Generation(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_render", []), [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise Raised(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[Generation, loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception


def render(template, context):
    try:
        text = env.from_string(template).render(**context)
    except Raised as e:
        return {"raises": str(e)}
    except RecursionError:
        return None
    except Exception:
        return {"error": True}
    return {"text": text}


def comparable(result):
    if result is None or "range" in json.dumps(result):
        return False
    text = result.get("text", "")
    return not (len(text) > 20000 or re.search(r"<[Mm]acro|<function|built-in method| object at 0x|\d{20,}", text))


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    here = os.path.dirname(os.path.abspath(__file__))
    cases = []
    seed = 1
    kinds = {"text": 0, "raises": 0, "error": 0}
    while sum(kinds.values()) < count:
        case = make(seed)
        seed += 1
        if len(case["t"]) > 2000:
            continue
        r = render(case["t"], case["c"])
        if not comparable(r):
            continue
        kind = next(iter(r))
        # errors are cheap to produce; keep most of the budget for rendered text
        if kind == "error" and kinds["error"] >= count // 4:
            continue
        kinds[kind] += 1
        cases.append({"template": case["t"], "context": case["c"], **r})
    with open(os.path.join(here, "jinja_random.json"), "w") as f:
        json.dump({"jinja2": jinja2.__version__, "cases": cases}, f, ensure_ascii=False, indent=0)
    print(len(cases), "cases", kinds)


if __name__ == "__main__":
    main()
