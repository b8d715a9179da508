// Syntax tree of a parsed chat template (a Jinja subset). One node type with a kind tag keeps the
// parser and interpreter small; the meaning of `children`, `name` and `names` depends on the kind.
#pragma once

#include "models/chat/JinjaValue.h"

#include <memory>
#include <string>
#include <vector>

namespace rslora::models::jinja {

struct Node;
using NodePtr = std::unique_ptr<Node>;

struct Node {
    enum class Kind {
        // expressions
        Literal,   // value
        Name,      // name
        ListLit,   // children: items
        DictLit,   // children: key0, value0, key1, value1, ...
        TupleLit,  // children: items
        Attr,      // children[0] . name
        Index,     // children[0] [ children[1] ]
        Slice,     // children[0] [ children[1] : children[2] : children[3] ] (null = omitted)
        Call,      // children[0] ( positional children[1..k], keyword values with names in `names` )
        Filter,    // children[0] | name ( args like Call from children[1..] )
        Test,      // children[0] is [not] name ( args ); negated
        Unary,     // op children[0]  (op: "-", "+", "not")
        Binary,    // children[0] op children[1]  (+ - * / // % ** ~ == != < > <= >= in notin and or)
        Compare,   // children[0] names[0] children[1] names[1] children[2] ... (a chain of two or more comparisons)
        Ternary,   // children[0] if children[1] else children[2] (children[2] may be null)
        // statements
        Text,      // name = the text
        Output,    // children[0]
        Body,      // children: statements
        If,        // children: cond0, body0, cond1, body1, ..., [else body] (odd count: last is else)
        For,       // names: targets; children: iterable, body, else body (may be null), filter (may be null); recursive
        Set,       // names: targets (or {name, attr} when isAttr); children[0] value
        SetBlock,  // name; children[0] body
        Macro,     // name; names: params; children: body, then defaults (null where none), one per param
        CallBlock, // names: caller params; children: the macro call, body, then the params' defaults
        Break,
        Continue,
        Generation, // children[0] body
        FilterBlock, // name (filter); children[0] body, children[1..] args
    };

    Kind kind;
    int line = 0;
    std::string name;
    std::string op;
    std::vector<std::string> names;
    std::vector<NodePtr> children;
    Value value;
    bool negated = false;
    bool isAttr = false;
    bool recursive = false; // For: `recursive`, the body may call loop(items)
    std::size_t positionalCount = 0; // Call/Filter/Test: how many children after the first are positional

    Node(Kind k, int l) : kind(k), line(l) {}
};

} // namespace rslora::models::jinja
