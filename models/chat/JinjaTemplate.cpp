// Tree-walking renderer for parsed chat templates, with Jinja2's scoping: for-loop bodies and macro
// calls get their own scope (hence namespace() for state that must survive a loop), if-blocks do not.
#include "models/chat/JinjaTemplate.h"

#include "models/chat/JinjaBuiltins.h"
#include "models/chat/JinjaDictKeys.h"
#include "models/chat/JinjaParser.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>

namespace rslora::models::jinja {

namespace {

class Interpreter {
public:
    Interpreter(const RenderLimits& limits, const Dict& context) : m_limits(limits) {
        auto& root = *m_scopes.emplace_back(std::make_shared<Scope>());
        Dict globals;
        addGlobals(globals);
        for (const auto& [k, v] : globals.items())
            root[k] = v;
        for (const auto& [k, v] : context.items())
            root[k] = v;
    }

    RenderResult run(const Node& body) {
        exec(body);
        RenderResult r;
        r.text = std::move(m_out);
        r.generationSpans = std::move(m_spans);
        return r;
    }

private:
    enum class Flow { Normal, Break, Continue };
    using Scope = std::unordered_map<std::string, Value>;
    // Scopes are shared: a macro sees the scopes around its definition as they are when it is called
    // (Jinja2 compiles it to a Python closure over the variables of the enclosing blocks).
    using ScopePtr = std::shared_ptr<Scope>;

    [[noreturn]] void error(const Node& n, const std::string& message) const {
        throw Error("chat template line " + std::to_string(n.line) + ": " + message);
    }

    void emit(const std::string& s) {
        if (m_out.size() + s.size() > m_limits.maxOutputBytes)
            throw Error("chat template output exceeds " + std::to_string(m_limits.maxOutputBytes) + " bytes");
        m_out += s;
    }

    Value lookup(const std::string& name) const {
        for (auto it = m_scopes.rbegin(); it != m_scopes.rend(); ++it) {
            auto f = (*it)->find(name);
            if (f != (*it)->end())
                return f->second;
        }
        return Value::undefined(name);
    }

    Flow execBody(const Node& body) {
        for (const auto& child : body.children) {
            const Flow f = exec(*child);
            if (f != Flow::Normal)
                return f;
        }
        return Flow::Normal;
    }

    Flow exec(const Node& n) {
        if (++m_steps > m_limits.maxSteps)
            error(n, "the template ran for more than " + std::to_string(m_limits.maxSteps) + " steps");
        switch (n.kind) {
        case Node::Kind::Body: return execBody(n);
        case Node::Kind::Text: emit(n.name); return Flow::Normal;
        case Node::Kind::Output: emit(eval(*n.children[0]).str()); return Flow::Normal;
        case Node::Kind::If: {
            const std::size_t count = n.children.size();
            for (std::size_t i = 0; i + 1 < count; i += 2)
                if (eval(*n.children[i]).truthy())
                    return execBody(*n.children[i + 1]);
            if (count % 2 == 1)
                return execBody(*n.children[count - 1]);
            return Flow::Normal;
        }
        case Node::Kind::For: return execFor(n);
        case Node::Kind::Set: {
            Value v = eval(*n.children[0]);
            if (n.isAttr) {
                Value target = lookup(n.names[0]);
                if (!target.isDict() || !target.asDict().isNamespace)
                    error(n, "cannot assign attribute on non-namespace object '" + n.names[0] + "'");
                target.asDict().set(n.names[1], std::move(v));
            } else if (n.names.size() == 1) {
                (*m_scopes.back())[n.names[0]] = std::move(v);
            } else {
                const auto items = iterateOrFail(n, v);
                if (items.size() != n.names.size())
                    error(n, "cannot unpack " + std::to_string(items.size()) + " values into " +
                                 std::to_string(n.names.size()) + " names");
                for (std::size_t i = 0; i < items.size(); ++i)
                    (*m_scopes.back())[n.names[i]] = items[i];
            }
            return Flow::Normal;
        }
        case Node::Kind::SetBlock: {
            Flow f = Flow::Normal;
            std::string captured = captureScoped(*n.children[0], f);
            if (f != Flow::Normal) // a break or continue in the block leaves the loop before the assignment
                return f;
            (*m_scopes.back())[n.name] = Value(std::move(captured));
            return Flow::Normal;
        }
        case Node::Kind::Macro: defineMacro(n); return Flow::Normal;
        case Node::Kind::CallBlock: callBlock(n); return Flow::Normal;
        case Node::Kind::Break: return Flow::Break;
        case Node::Kind::Continue: return Flow::Continue;
        case Node::Kind::Generation: {
            // transformers renders the block as a {% call %} body: names set inside stay inside.
            const std::size_t start = m_out.size();
            const Flow f = execScoped(*n.children[0]);
            m_spans.emplace_back(start, m_out.size());
            return f;
        }
        case Node::Kind::FilterBlock: {
            Flow f = Flow::Normal;
            const std::string text = captureScoped(*n.children[0], f);
            if (f != Flow::Normal) // a break or continue in the block leaves the loop; nothing is written
                return f;
            CallArgs args = evalArgs(n, 1);
            try {
                emit(applyFilter(n.name, Value(text), args).str());
            } catch (const EvalError& e) {
                error(n, e.what());
            }
            return Flow::Normal;
        }
        default: error(n, "expression used as a statement");
        }
    }

    std::string capture(const Node& body) {
        return captureOf([&] { execBody(body); });
    }

    // The text of a set or filter block's body, run in a scope of its own as Jinja2 runs it (names set
    // inside are not seen after the block); `flow` tells a break or continue inside it.
    std::string captureScoped(const Node& body, Flow& flow) {
        return captureOf([&] { flow = execScoped(body); });
    }

    // `body` run in a scope of its own: names it sets are gone after it, also when it throws.
    Flow execScoped(const Node& body) {
        m_scopes.push_back(std::make_shared<Scope>());
        struct Pop {
            std::vector<ScopePtr>& scopes;
            ~Pop() { scopes.pop_back(); }
        } pop{m_scopes};
        return execBody(body);
    }

    // The text `render` emits, kept out of the output.
    template <class Render>
    std::string captureOf(Render render) {
        std::string saved;
        saved.swap(m_out);
        try {
            render();
        } catch (...) {
            m_out.swap(saved);
            throw;
        }
        m_out.swap(saved);
        return saved;
    }

    std::vector<Value> iterateOrFail(const Node& n, const Value& v) const {
        try {
            return iterate(v);
        } catch (const EvalError& e) {
            error(n, e.what());
        }
    }

    Flow execFor(const Node& n) { return runLoop(n, eval(*n.children[0]), 1, m_scopes.size()); }

    // loop(items) in a recursive loop at `depth`: the loop's body (and else) over items one level deeper,
    // seeing the names where the for statement stands (the first `siteScopes` scopes), not those of the
    // iteration that called it; returns the text.
    std::string recurse(const Node& n, CallArgs& a, int64_t depth, std::size_t siteScopes) {
        if (a.positional.size() != 1 || !a.keyword.empty())
            throw EvalError("loop() takes one argument, the items to loop over");
        if (++m_depth > m_limits.maxCallDepth) {
            --m_depth;
            throw EvalError("recursive loop nested more than " + std::to_string(m_limits.maxCallDepth) + " deep");
        }
        std::vector<ScopePtr> hidden;
        if (m_scopes.size() > siteScopes) {
            hidden.assign(std::make_move_iterator(m_scopes.begin() + static_cast<std::ptrdiff_t>(siteScopes)),
                          std::make_move_iterator(m_scopes.end()));
            m_scopes.resize(siteScopes);
        }
        auto restore = [&] {
            m_scopes.resize(std::min(m_scopes.size(), siteScopes));
            for (auto& scope : hidden)
                m_scopes.push_back(std::move(scope));
            --m_depth;
        };
        std::string out;
        try {
            out = captureOf([&] { runLoop(n, a.positional[0], depth, siteScopes); });
        } catch (...) {
            restore();
            throw;
        }
        restore();
        return out;
    }

    // A for statement's else block (if any), in a scope of its own as Jinja2 runs it.
    Flow execElse(const Node& n) {
        if (!n.children[2])
            return Flow::Normal;
        return execScoped(*n.children[2]);
    }

    // The for statement `n` over `iterable` at `depth` (1 at the statement, deeper through loop(items)).
    Flow runLoop(const Node& n, const Value& iterable, int64_t depth, std::size_t siteScopes) {
        std::vector<Value> items = iterateOrFail(n, iterable);
        const Node* filter = n.children[3].get();
        // The loop filter runs before loop.index/length are computed (Jinja2 semantics).
        auto bindTargets = [&](Scope& scope, const Value& item) {
            if (n.names.size() == 1) {
                scope[n.names[0]] = item;
                return;
            }
            const auto parts = iterateOrFail(n, item);
            if (parts.size() != n.names.size())
                error(n, "cannot unpack " + std::to_string(parts.size()) + " values into " +
                             std::to_string(n.names.size()) + " loop variables");
            for (std::size_t i = 0; i < parts.size(); ++i)
                scope[n.names[i]] = parts[i];
        };
        if (filter) {
            std::vector<Value> kept;
            for (const auto& item : items) {
                m_scopes.push_back(std::make_shared<Scope>());
                bindTargets(*m_scopes.back(), item);
                const bool ok = eval(*filter).truthy();
                m_scopes.pop_back();
                if (ok)
                    kept.push_back(item);
            }
            items = std::move(kept);
        }
        if (items.empty())
            return execElse(n);
        const auto length = static_cast<int64_t>(items.size());
        // Jinja2 runs the else block unless some iteration reached the end of the body: one ended by
        // break or continue does not count (its "iterated" flag is cleared at the body's end).
        bool completed = false;
        // loop.changed(*values): true when the values differ from those of its previous call in this loop.
        auto lastChanged = std::make_shared<std::optional<Value>>();
        const Value changed = Value::callable([lastChanged](CallArgs& a) {
            Value values = Value::tuple(a.positional);
            if (*lastChanged && (*lastChanged)->equals(values))
                return Value(false);
            *lastChanged = std::move(values);
            return Value(true);
        });
        for (int64_t i = 0; i < length; ++i) {
            if (++m_iterations > m_limits.maxLoopIterations)
                error(n, "loop iteration limit exceeded");
            m_scopes.push_back(std::make_shared<Scope>());
            Scope& scope = *m_scopes.back();
            bindTargets(scope, items[static_cast<std::size_t>(i)]);
            auto loop = std::make_shared<Dict>();
            loop->set("index", Value(i + 1));
            loop->set("index0", Value(i));
            loop->set("revindex", Value(length - i));
            loop->set("revindex0", Value(length - i - 1));
            loop->set("first", Value(i == 0));
            loop->set("last", Value(i == length - 1));
            loop->set("length", Value(length));
            loop->set("depth", Value(depth));
            loop->set("depth0", Value(depth - 1));
            loop->set("previtem", i > 0 ? items[static_cast<std::size_t>(i - 1)] : Value::undefined("previtem"));
            loop->set("nextitem", i + 1 < length ? items[static_cast<std::size_t>(i + 1)] : Value::undefined("nextitem"));
            loop->set("cycle", Value::callable([i](CallArgs& a) -> Value {
                if (a.positional.empty())
                    throw EvalError("loop.cycle needs at least one argument");
                return a.positional[static_cast<std::size_t>(i) % a.positional.size()];
            }));
            loop->set("changed", changed);
            if (n.recursive)
                loop->call = [this, &n, depth, siteScopes](CallArgs& a) { return Value(recurse(n, a, depth + 1, siteScopes)); };
            else
                loop->call = [](CallArgs&) -> Value {
                    throw EvalError("The loop must have the 'recursive' marker to be called recursively");
                };
            scope["loop"] = Value(loop);
            Flow f;
            try {
                f = execBody(*n.children[1]);
            } catch (...) {
                m_scopes.pop_back();
                throw;
            }
            m_scopes.pop_back();
            if (f == Flow::Break)
                break;
            if (f == Flow::Normal)
                completed = true;
        }
        return completed ? Flow::Normal : execElse(n);
    }

    // Whether `body` reads the name `name` (Jinja2 gives a macro varargs / kwargs only when its body
    // does; a call with extra arguments is refused otherwise).
    bool reads(const Node& body, const char* name) {
        const auto key = std::make_pair(&body, std::string(name));
        if (auto it = m_reads.find(key); it != m_reads.end())
            return it->second;
        bool found = false;
        std::vector<const Node*> pending{&body};
        while (!pending.empty() && !found) {
            const Node* x = pending.back();
            pending.pop_back();
            found = x->kind == Node::Kind::Name && x->name == name;
            for (const auto& c : x->children)
                if (c)
                    pending.push_back(c.get());
        }
        m_reads.emplace(key, found);
        return found;
    }

    // Binds a macro's (or a call block's caller's) parameters `node.names` from `a`; defaults are
    // children[firstDefault + i] (null where none). Extra positional arguments go to `varargs` and
    // unknown keywords to `kwargs` when `body` reads them, as Jinja2 does; otherwise they are refused.
    Scope bindParams(const Node& node, std::size_t firstDefault, CallArgs& a, const std::string& what, const Node& body) {
        Scope frame;
        const auto& params = node.names;
        const bool varargs = reads(body, "varargs"), kwargs = reads(body, "kwargs");
        if (a.positional.size() > params.size() && !varargs)
            throw EvalError(what + " takes not more than " + std::to_string(params.size()) + " argument(s)");
        auto extraKeywords = std::make_shared<Dict>();
        for (const auto& [k, v] : a.keyword) {
            const auto at = std::find(params.begin(), params.end(), k);
            if (at != params.end()) {
                if (static_cast<std::size_t>(at - params.begin()) < a.positional.size())
                    throw EvalError(what + " got multiple values for argument '" + k + "'");
            } else if (k != "caller" || !reads(body, "caller")) {
                // Jinja2 gives a {% call %} block's caller to a macro that never calls caller() as one
                // more keyword argument: kwargs takes it, or the call is refused.
                if (!kwargs)
                    throw EvalError(k == "caller" ? what + " is called from a {% call %} block but never uses caller()"
                                                  : what + " takes no keyword argument '" + k + "'");
                extraKeywords->set(k, v);
            }
        }
        for (std::size_t i = 0; i < params.size(); ++i) {
            if (i < a.positional.size())
                frame[params[i]] = a.positional[i];
            else if (const Value* kw = a.kw(params[i]))
                frame[params[i]] = *kw;
            else if (node.children[firstDefault + i])
                frame[params[i]] = eval(*node.children[firstDefault + i]);
            else
                frame[params[i]] = Value::undefined(params[i]);
        }
        if (varargs)
            frame["varargs"] = Value::tuple(List(a.positional.begin() + static_cast<std::ptrdiff_t>(std::min(params.size(), a.positional.size())),
                                                 a.positional.end()));
        if (kwargs)
            frame["kwargs"] = Value(extraKeywords);
        return frame;
    }

    // Renders `body` with `scopes` in place of the current ones (a macro sees the template's top-level
    // names; a call block's caller sees the names where the call block stands).
    std::string renderIn(const Node& at, std::vector<ScopePtr> scopes, const Node& body) {
        if (++m_depth > m_limits.maxCallDepth) {
            --m_depth;
            error(at, "macro call depth limit exceeded");
        }
        scopes.swap(m_scopes);
        std::string out;
        try {
            out = capture(body);
        } catch (...) {
            m_scopes.swap(scopes);
            --m_depth;
            throw;
        }
        // Names the body set (namespaces are shared objects anyway) are not kept.
        m_scopes.swap(scopes);
        --m_depth;
        return out;
    }

    // A macro sees the template's top-level names, and the names of the blocks around its definition (a
    // loop's variables, an enclosing macro's parameters), as they are when it is called, as a Python
    // closure does. The blocks are held weakly (the macro is stored in one of them); a macro called after
    // its blocks ended sees the top-level names only.
    void defineMacro(const Node& n) {
        const Node* node = &n;
        auto enclosing = std::make_shared<std::vector<std::weak_ptr<Scope>>>(m_scopes.begin() + 1, m_scopes.end());
        Value macro = Value::callable([this, node, enclosing](CallArgs& a) -> Value {
            Scope frame = bindParams(*node, 1, a, "macro '" + node->name + "'", *node->children[0]);
            // {% call %} passes the block as `caller`.
            if (const Value* caller = a.kw("caller"))
                frame["caller"] = *caller;
            std::vector<ScopePtr> scopes{m_scopes.front()};
            for (const auto& weak : *enclosing)
                if (ScopePtr scope = weak.lock())
                    scopes.push_back(std::move(scope));
            scopes.push_back(std::make_shared<Scope>(std::move(frame)));
            return Value(renderIn(*node, std::move(scopes), *node->children[0]));
        });
        (*m_scopes.back())[n.name] = macro;
    }

    // {% call(params) macro(args) %}body{% endcall %}: the macro called with `caller`, a function
    // rendering the body where the call block stands.
    void callBlock(const Node& n) {
        const Node* node = &n;
        std::vector<ScopePtr> site = m_scopes;
        Value caller = Value::callable([this, node, site](CallArgs& a) -> Value {
            std::vector<ScopePtr> scopes = site;
            scopes.push_back(std::make_shared<Scope>(bindParams(*node, 2, a, "caller", *node->children[1])));
            scopes.back()->emplace("caller", Value::undefined("caller")); // the body has no caller of its own
            return Value(renderIn(*node, std::move(scopes), *node->children[1]));
        });
        const Node& call = *n.children[0];
        Value callee;
        CallArgs args;
        try {
            callee = eval(*call.children[0]);
            args = evalArgs(call, 1);
        } catch (const EvalError& e) {
            error(n, e.what());
        }
        if (!callee.isCallable())
            error(n, callee.isUndefined() ? "'" + callee.undefinedName() + "' is undefined" : "'" + callee.typeName() + "' object is not callable");
        args.keyword.emplace_back("caller", caller);
        Value result;
        try {
            result = callee.asCallable()(args);
        } catch (const EvalError& e) { // the macro refusing its arguments
            error(n, e.what());
        }
        emit(result.str());
    }

    CallArgs evalArgs(const Node& n, std::size_t first) {
        CallArgs args;
        const std::size_t positionalEnd = first + n.positionalCount;
        for (std::size_t i = first; i < n.children.size(); ++i) {
            Value v = eval(*n.children[i]);
            if (i < positionalEnd)
                args.positional.push_back(std::move(v));
            else
                args.keyword.emplace_back(n.names[i - positionalEnd], std::move(v));
        }
        return args;
    }

    Value eval(const Node& n) {
        try {
            return evalInner(n);
        } catch (const EvalError& e) {
            error(n, e.what());
        }
    }

    Value evalInner(const Node& n) {
        switch (n.kind) {
        case Node::Kind::Literal: return n.value;
        case Node::Kind::Name: return lookup(n.name);
        case Node::Kind::ListLit:
        case Node::Kind::TupleLit: {
            List l;
            for (const auto& c : n.children)
                l.push_back(eval(*c));
            return n.kind == Node::Kind::TupleLit ? Value::tuple(std::move(l)) : Value(std::move(l));
        }
        case Node::Kind::DictLit: {
            auto d = std::make_shared<Dict>();
            for (std::size_t i = 0; i + 1 < n.children.size(); i += 2) {
                const Value k = eval(*n.children[i]);
                dictSet(*d, k, eval(*n.children[i + 1]));
            }
            return Value(d);
        }
        case Node::Kind::Attr: return getAttribute(eval(*n.children[0]), n.name);
        case Node::Kind::Index: return getItem(eval(*n.children[0]), eval(*n.children[1]));
        case Node::Kind::Slice: {
            auto opt = [&](const NodePtr& p) { return p ? eval(*p) : Value::none(); };
            return sliceValue(eval(*n.children[0]), opt(n.children[1]), opt(n.children[2]), opt(n.children[3]));
        }
        case Node::Kind::Call: {
            const Value callee = eval(*n.children[0]);
            CallArgs args = evalArgs(n, 1);
            if (callee.isDict() && callee.asDict().call)
                return callee.asDict().call(args);
            if (!callee.isCallable()) {
                if (callee.isUndefined())
                    throw EvalError("'" + callee.undefinedName() + "' is undefined");
                throw EvalError("'" + callee.typeName() + "' object is not callable");
            }
            return callee.asCallable()(args);
        }
        case Node::Kind::Filter: {
            const Value input = eval(*n.children[0]);
            CallArgs args = evalArgs(n, 1);
            return applyFilter(n.name, input, args);
        }
        case Node::Kind::Test: {
            const Value input = eval(*n.children[0]);
            CallArgs args = evalArgs(n, 1);
            const bool r = applyTest(n.name, input, args);
            return Value(n.negated ? !r : r);
        }
        case Node::Kind::Unary: {
            const Value v = eval(*n.children[0]);
            if (n.op == "not")
                return Value(!v.truthy());
            if (n.op == "-")
                return unaryMinus(v);
            return v;
        }
        case Node::Kind::Binary: {
            if (n.op == "and") {
                Value a = eval(*n.children[0]);
                return a.truthy() ? eval(*n.children[1]) : a;
            }
            if (n.op == "or") {
                Value a = eval(*n.children[0]);
                return a.truthy() ? a : eval(*n.children[1]);
            }
            const Value a = eval(*n.children[0]);
            const Value b = eval(*n.children[1]);
            return binaryOp(n.op, a, b);
        }
        case Node::Kind::Compare: {
            Value left = eval(*n.children[0]);
            for (std::size_t i = 0; i < n.names.size(); ++i) {
                Value right = eval(*n.children[i + 1]);
                if (!binaryOp(n.names[i], left, right).truthy())
                    return Value(false);
                left = std::move(right);
            }
            return Value(true);
        }
        case Node::Kind::Ternary:
            if (eval(*n.children[1]).truthy())
                return eval(*n.children[0]);
            return n.children[2] ? eval(*n.children[2]) : Value::undefined();
        default: error(n, "statement used as an expression");
        }
    }

    const RenderLimits& m_limits;
    std::vector<ScopePtr> m_scopes;
    std::string m_out;
    std::vector<std::pair<std::size_t, std::size_t>> m_spans;
    std::size_t m_iterations = 0;
    std::size_t m_steps = 0;
    int m_depth = 0;
    std::map<std::pair<const Node*, std::string>, bool> m_reads;
};

} // namespace

Template::Template(const std::string& source) : m_root(parseTemplate(source)) {}

RenderResult Template::render(const Dict& context, const RenderLimits& limits) const {
    Interpreter interpreter(limits, context);
    return interpreter.run(*m_root);
}

RenderResult Template::render(const nlohmann::ordered_json& context, const RenderLimits& limits) const {
    if (!context.is_object())
        throw Error("chat template context must be a JSON object");
    const Value v = Value::fromJson(context);
    return render(v.asDict(), limits);
}

} // namespace rslora::models::jinja
