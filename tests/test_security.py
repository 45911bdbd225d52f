"""A spec cannot make the generated code do anything but build the model.

Two halves (docs/security.md explains both):

- A corpus of hostile specs, `tests/data/hostile/*.arch`, one attack per file. The
  first line of each file says what it attacks and what must happen:
  `# REJECTED A207: ...` (archdsl.load raises ArchError carrying that code, and
  never any other exception) or `# SAFE: ...` (the spec is accepted and every
  generated module passes the checker below). Payloads carry the marker word
  PWNED, which must never reach generated code.
- `check_generated`, an AST allow-list checker run over every generated module
  (both targets; the corpus, every example, hostile file names, and fuzzed specs):
  only the five framework imports, only allow-listed calls, only identifier-like
  string constants, a docstring that cannot break out of its quotes, and comments
  that archdsl wrote itself. ruff must also pass on the generated code.

A hostile input that archdsl gets wrong today is kept as a test of the correct
behaviour, marked xfail(strict=True) with the reason "BUG: ...".
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import io
import keyword
import math
import os
import re
import shutil
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archdsl
from archdsl.frontend import names as archdsl_names

REPO = Path(__file__).resolve().parent.parent
HOSTILE = REPO / "tests" / "data" / "hostile"
EXAMPLES = sorted((REPO / "examples").glob("*.arch")) + sorted((REPO / "examples" / "applications").glob("*.arch"))
DOCS = REPO / "docs" / "security.md"
TARGETS = ("keras", "torch")
MARKER = "PWNED"  # every payload in the corpus names it; it must never reach generated code
TIMEOUT = 120


# ---------------------------------------------------------------- the checker


class UnsafeCode(AssertionError):
    """A generated module that does, or could do, more than build the model."""


def _support_sources(target: str) -> frozenset[str]:
    """The fixed classes and functions a module may define for layers its framework lacks.

    They come from templates/<target>/classes/ word for word, never from a spec, so the checker
    trusts a top-level definition only when its text is one of them (and checks the rest as usual).
    """
    from archdsl.targets.render import support_source

    folder = REPO / "templates" / target / "classes"
    return frozenset(support_source(target, path.name.removesuffix(".py.j2")) for path in folder.glob("*.py.j2"))


SUPPORT_SOURCES = {target: _support_sources(target) for target in TARGETS}


ALLOWED_IMPORTS = {
    "keras": ("import keras", "from keras import layers"),
    "torch": ("import torch", "import torch.nn.functional as F", "from torch import nn"),
}
IMPORTED_NAMES = {"keras": {"keras", "layers"}, "torch": {"torch", "F", "nn"}}
TARGET_WORD = {"keras": "Keras", "torch": "PyTorch"}

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
LAYER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# A Keras layer's name in code with a function per block: the path of its call (`basic_1.0`), and in
# a block's function an f-string of the call's name and the layer's own (`f"{name}.conv2d_1"`).
LAYER_PATH = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*\Z")
PATH_PIECE = re.compile(r"\.?([A-Za-z0-9_]+\.?)*\Z")
CLASS_ATTRIBUTE = re.compile(r"[A-Z][A-Za-z0-9]*\Z")  # layers.Conv2D, nn.Linear, ...
FIXED_STRINGS = frozenset({"__main__", "output shape:", "output shapes:", "parameters:", "-inf"})
# What archdsl's own comments are made of: shapes such as `(N, 32, 62, 62)` and fixed notes.
COMMENT = re.compile(r"# [A-Za-z0-9_ ,()'.:/=\-?*]+\Z")  # `?`, `*`: a block's shapes (N, c * 4, ?, ?)
DOCSTRING_CHARS = re.compile(r"[A-Za-z0-9_.\-/ ?:,()\n]*\Z")
PRINTABLE_ASCII = re.compile(r"[\x20-\x7e\n]*\Z")

GIVEN_PARAMETER = re.compile(
    # the size: a number, or in a block's class a parameter of its constructor (`c`, `c * 4`)
    r"self\.[A-Za-z][A-Za-z0-9_]*\.(weight|bias) = "
    r"nn\.Parameter\(torch\.(zeros|ones)\((\d+|[A-Za-z]\w*( \* \d+)?)\)\)\Z"
)
KERAS_FUNCTIONS = frozenset({"keras.Input", "keras.Model", "keras.random.normal", "keras.random.randint"})
F_FUNCTIONS = frozenset(
    {"relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "hardswish", "hardsigmoid", "pad", "interpolate"}
    | {f"{kind}_pool{n}d" for kind in ("max", "avg") for n in (1, 2, 3)}
)
TORCH_FUNCTIONS = frozenset(
    {"cat", "flatten", "softmax", "sigmoid", "tanh", "abs", "randn", "randint", "ones_like", "no_grad", "zeros", "ones"}
)
NN_FUNCTIONS = frozenset({"nn.Transformer.generate_square_subsequent_mask"})  # a causal mask
TENSOR_METHODS = frozenset(
    {"transpose", "permute", "reshape", "flatten", "mean", "amax", "expand", "new_tensor", "view"}
)
BUILTIN_CALLS = frozenset({"print", "tuple", "sum", "super", "float"})
# Methods of the objects the generated `__main__` holds: the model and its parameters.
MAIN_METHODS = {("model", "parameters"), ("model", "count_params"), ("p", "numel")}
BANNED_NODES = (
    ast.Lambda,
    ast.Global,
    ast.Nonlocal,
    ast.Delete,
    ast.Try,
    ast.Raise,
    ast.While,
    ast.For,
    ast.AsyncFunctionDef,
    ast.AsyncFor,
    ast.AsyncWith,
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.NamedExpr,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.Assert,
    ast.Match,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.Starred,
    ast.AugAssign,
)
if hasattr(ast, "TryStar"):
    BANNED_NODES += (ast.TryStar,)


# A layer stored as `self.<name>` under one of these names replaces or hides what nn.Module
# itself relies on (model.eval() assigns self.training, __main__ calls model.parameters()).
def _nn_module_attributes() -> frozenset[str]:
    """The public attributes of the real torch.nn.Module (plus `training`, set in __init__).

    Without PyTorch (the light test run) archdsl's own list stands in for the checker;
    test_nn_module_attributes_are_refused_as_layer_names, a framework test, holds it to torch's.
    """
    if importlib.util.find_spec("torch") is None:
        return archdsl_names.NN_MODULE_ATTRIBUTES
    import torch

    return frozenset(n for n in dir(torch.nn.Module) if not n.startswith("_")) | {"training"}


NN_MODULE_ATTRIBUTES = _nn_module_attributes()


def _dotted(node: ast.AST) -> str | None:
    """`keras.random.normal` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base is not None else None
    return None


@dataclass
class _Scan:
    target: str
    tree: ast.Module
    class_names: set[str]
    bound: set[str]
    self_modules: set[str]
    problems: list[str]
    layer_objects: set[str] = field(default_factory=set)  # Keras: `x_layer = layers.Dense(...)`, called again
    block_functions: set[str] = field(default_factory=set)  # Keras: a function per block

    def problem(self, node: ast.AST, text: str) -> None:
        self.problems.append(f"line {getattr(node, 'lineno', '?')}: {text}")


def _bound_names(tree: ast.Module) -> set[str]:
    """Every name the module binds itself: imports, definitions, assignments, parameters."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        if isinstance(node, ast.FunctionDef):
            bound.update(a.arg for a in node.args.args)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
    return bound


def _check_call(scan: _Scan, node: ast.Call) -> None:
    func = node.func
    for kw in node.keywords:
        if kw.arg is None or not IDENTIFIER.match(kw.arg) or kw.arg.startswith("__"):
            scan.problem(node, f"keyword argument {kw.arg!r}")
    if isinstance(func, ast.Name):
        name = func.id
        if name == "float":
            if not (
                len(node.args) == 1
                and not node.keywords
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "-inf"
            ):
                scan.problem(node, f"float() other than float('-inf'): {ast.unparse(node)}")
            return
        if name == "super" and (node.args or node.keywords):
            scan.problem(node, "super() with arguments")
        if name in BUILTIN_CALLS or name in {"build_model", "model"} or name in scan.class_names:
            return
        if scan.target == "keras" and name in scan.layer_objects:
            return  # a shared layer: the object built once, applied to each input
        if scan.target == "keras" and name in scan.block_functions:
            return  # a block's function, checked as a definition of the module

        scan.problem(node, f"call of {name}()")
        return
    if isinstance(func, ast.Call):
        # A Keras layer applied to its input: layers.Dense(...)(x)
        inner = _dotted(func.func)
        if scan.target == "keras" and inner is not None and (inner.startswith("layers.") or inner in scan.class_names):
            return  # a layer the module defines, applied the same way
        scan.problem(node, f"call of the result of {ast.unparse(func)}")
        return
    if not isinstance(func, ast.Attribute):
        scan.problem(node, f"call of {ast.unparse(func)}")
        return
    attr, base = func.attr, func.value
    dotted = _dotted(func)
    if dotted is not None:
        head = dotted.split(".")[0]
        if scan.target == "keras":
            if dotted in KERAS_FUNCTIONS:
                return
            if head == "layers" and dotted.count(".") == 1 and CLASS_ATTRIBUTE.match(attr):
                return
        else:
            if head == "nn" and dotted.count(".") == 1 and CLASS_ATTRIBUTE.match(attr):
                return
            if dotted in NN_FUNCTIONS:
                return
            if dotted == f"F.{attr}" and attr in F_FUNCTIONS:
                return
            if dotted == f"torch.{attr}" and attr in TORCH_FUNCTIONS:
                return
            if dotted == f"self.{attr}":
                if attr not in scan.self_modules:
                    scan.problem(node, f"self.{attr}(...) is not a layer built in __init__")
                return
            parameter = dotted.split(".")
            if len(parameter) == 3 and head == "self" and parameter[1] in scan.self_modules and attr in TENSOR_METHODS:
                return  # a parameter built in __init__, used as a tensor: self.clstoken_1.expand(...)
        if (head, attr) in MAIN_METHODS and dotted.count(".") == 1:
            return
        if (
            isinstance(base, ast.Name)
            and attr in TENSOR_METHODS
            and base.id not in IMPORTED_NAMES[scan.target] | {"self", "model", "p"}
            and base.id not in scan.class_names
        ):
            return  # a tensor variable: x.transpose(1, 2)
        scan.problem(node, f"call of {dotted}()")
        return
    if isinstance(base, ast.Call) and _dotted(base.func) == "super" and attr == "__init__":
        return
    if isinstance(base, ast.Call) and _dotted(base.func) == "build_model" and attr == "eval":
        return
    if isinstance(base, (ast.Call, ast.Subscript)) and attr in TENSOR_METHODS:
        return  # x.permute(0, 2, 3, 1).flatten(1)
    scan.problem(node, f"call of {ast.unparse(func)}")


def _check_structure(scan: _Scan, body: list[ast.stmt], model_name: str | None) -> None:
    imports = [node for node in body if isinstance(node, (ast.Import, ast.ImportFrom))]
    allowed = ALLOWED_IMPORTS[scan.target]
    for node in imports:
        if ast.unparse(node) not in allowed:
            scan.problem(node, f"import not allowed: {ast.unparse(node)}")
    rest = [node for node in body[1:] if node not in imports]
    if any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body[1 + len(imports) :]):
        scan.problem(body[0], "imports after other statements")
    expected = [ast.FunctionDef, ast.If] if scan.target == "keras" else [ast.ClassDef, ast.FunctionDef, ast.If]
    if scan.target == "keras":
        blocks = rest[:-2]
        if all(isinstance(node, ast.FunctionDef) for node in blocks):
            for node in blocks:
                _check_block_function(scan, node)
            rest = rest[len(blocks) :]
    classes = 0
    while scan.target == "torch" and all(isinstance(node, ast.ClassDef) for node in rest[classes : classes + 2]):
        classes += 1  # a class per block before the model's
    if [type(node) for node in rest[classes:]] != expected:
        scan.problem(body[0], f"top-level statements are {[type(n).__name__ for n in rest]}, not {expected}")
        return
    for cls in rest[: classes + 1] if scan.target == "torch" else ():
        assert isinstance(cls, ast.ClassDef)
        if model_name is not None and cls is rest[classes] and cls.name != model_name:
            scan.problem(cls, f"class {cls.name} is not the model {model_name}")
        if [ast.unparse(b) for b in cls.bases] != ["nn.Module"] or cls.keywords or cls.decorator_list:
            scan.problem(cls, f"class header {ast.unparse(cls).splitlines()[0]}")
        if [type(n) for n in cls.body] != [ast.FunctionDef, ast.FunctionDef] or [
            n.name for n in cls.body if isinstance(n, ast.FunctionDef)
        ] != ["__init__", "forward"]:
            scan.problem(cls, "the class holds something other than __init__ and forward")
    function = rest[-2]
    assert isinstance(function, ast.FunctionDef)
    if function.name != "build_model":
        scan.problem(function, f"top-level function {function.name}")
    main = rest[-1]
    assert isinstance(main, ast.If)
    if ast.unparse(main.test) != "__name__ == '__main__'" or main.orelse:
        scan.problem(main, f"top-level if {ast.unparse(main.test)}")


def _check_block_function(scan: _Scan, function: ast.FunctionDef) -> None:
    """A block's Keras function: `def name(x, sizes..., name: str) -> keras.KerasTensor`, a tensor and
    numbers in, the call's name last, a tensor out, as its last statement."""
    arguments = function.args.args
    annotations = [ast.unparse(argument.annotation) if argument.annotation else "" for argument in arguments]
    if (
        len(arguments) < 2
        or annotations[0] != "keras.KerasTensor"
        or (arguments[-1].arg, annotations[-1]) != ("name", "str")
        or any(kind not in ("int", "float") for kind in annotations[1:-1])
        or ast.unparse(function.returns) != "keras.KerasTensor"
    ):
        scan.problem(function, f"block function header {ast.unparse(function).splitlines()[0]}")
    last = function.body[-1]
    if not (isinstance(last, ast.Return) and isinstance(last.value, ast.Name)):
        scan.problem(last, "a block function that does not end in returning a tensor")
    scan.block_functions.add(function.name)


def _keras_loops(scan: _Scan, tree: ast.Module) -> set[int]:
    """The nodes of `for i in range(N): x = block(x, ..., name=f"...{i}")`, a block call repeated with
    `* N`: the one loop Keras code may hold, over a count that is a constant or a block's parameter
    (`n - 1`), around one call of a block's function."""
    allowed: set[int] = set()
    parameters = {
        argument.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name in scan.block_functions
        for argument in node.args.args
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.For):
            continue
        count = node.iter
        argument = count.args[0] if isinstance(count, ast.Call) and len(count.args) == 1 else None
        if isinstance(argument, ast.BinOp) and isinstance(argument.op, ast.Add | ast.Sub):
            argument = argument.left if isinstance(argument.right, ast.Constant) else None
        (statement,) = node.body if len(node.body) == 1 else (None,)
        if (
            isinstance(node.target, ast.Name)
            and node.target.id == "i"
            and not node.orelse
            and _dotted(count.func if isinstance(count, ast.Call) else count) == "range"
            and not count.keywords
            and (
                isinstance(argument, ast.Constant)
                and type(argument.value) is int
                or isinstance(argument, ast.Name)
                and argument.id in parameters
            )
            and isinstance(statement, ast.Assign)
            and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Name)
            and statement.value.func.id in scan.block_functions
        ):
            allowed |= {id(node), id(count), id(count.func)}
    return allowed


def _layer_names(node: ast.JoinedStr) -> bool:
    """`f"{name}.conv2d_1"`, `f"basic_1.{i}"`: a call's name and a path, nothing else in an f-string."""
    for part in node.values:
        if isinstance(part, ast.Constant):
            if not (isinstance(part.value, str) and PATH_PIECE.match(part.value)):
                return False
        elif not (
            isinstance(part, ast.FormattedValue)
            and isinstance(part.value, ast.Name)
            and part.value.id in ("name", "i")
            and part.conversion == -1
            and part.format_spec is None
        ):
            return False
    return True


def _check_docstring(scan: _Scan, source: str, body: list[ast.stmt], model_name: str | None) -> None:
    first = body[0] if body else None
    if not (
        isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
    ):
        scan.problem(first or scan.tree, "the module does not start with its docstring")
        return
    doc = first.value.value
    if '"""' in doc or "\\" in doc:
        scan.problem(first, "the docstring holds quotes or backslashes")
    if not DOCSTRING_CHARS.match(doc):
        scan.problem(
            first, f"the docstring holds unexpected characters: {sorted(set(re.sub(r'[A-Za-z0-9]', '', doc)))}"
        )
    # The docstring is the source's first token, written between plain triple quotes.
    if not source.startswith('"""') or source.index('"""', 3) != len(doc) + 3:
        scan.problem(first, "the docstring is not one plain triple-quoted string at the top")
    head = f"{model_name}: {TARGET_WORD[scan.target]} code generated by archdsl {archdsl.__version__} from "
    if model_name is not None and not " ".join(doc.split("\n")).startswith(head):
        scan.problem(first, f"the docstring does not begin {head!r}: {doc[:120]!r}")


def _repeated_blocks(scan: _Scan, tree: ast.Module) -> set[int]:
    """The nodes of `nn.Sequential(*(Block(...) for _ in range(N)))`, a block repeated with `* N`: the one
    place a star, a generator and range() may stand, with a class of the module and a count that is a
    constant or a parameter of a block's constructor."""
    allowed: set[int] = set()
    constructor_arguments = {
        argument.arg
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "__init__"
        for argument in node.args.args[1:]
    }
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _dotted(node.func) == "nn.Sequential" and len(node.args) == 1):
            continue
        star = node.args[0]
        if not (isinstance(star, ast.Starred) and isinstance(star.value, ast.GeneratorExp)):
            continue
        made, (loop, *more) = star.value.elt, star.value.generators
        count = loop.iter
        argument = count.args[0] if isinstance(count, ast.Call) and len(count.args) == 1 else None
        if isinstance(argument, ast.BinOp) and isinstance(argument.op, ast.Add | ast.Sub):
            argument = argument.left if isinstance(argument.right, ast.Constant) else None  # range(n - 1)
        if (
            not more
            and not loop.ifs
            and not loop.is_async
            and isinstance(loop.target, ast.Name)
            and loop.target.id == "_"
            and isinstance(made, ast.Call)
            and isinstance(made.func, ast.Name)
            and made.func.id in scan.class_names
            and isinstance(count, ast.Call)
            and _dotted(count.func) == "range"
            and (
                isinstance(argument, ast.Constant)
                and type(argument.value) is int
                or isinstance(argument, ast.Name)
                and argument.id in constructor_arguments
            )
        ):
            allowed |= {id(star), id(count), id(count.func), id(loop.target)}
    return allowed


def check_generated(source: str, target: str, model_name: str | None = None) -> None:
    """Raise UnsafeCode unless `source` is a module that only builds a model."""
    if not PRINTABLE_ASCII.match(source):
        bad = sorted({ch for ch in source if not PRINTABLE_ASCII.match(ch)})
        raise UnsafeCode(f"characters other than printable ASCII and newlines: {bad!r}")
    try:
        tree = ast.parse(source)
        compile(source, "<generated>", "exec")
    except SyntaxError as error:
        raise UnsafeCode(f"does not compile: {error}") from error
    bound = _bound_names(tree)
    support = [
        node
        for node in tree.body
        if isinstance(node, (ast.ClassDef, ast.FunctionDef))
        and ast.get_source_segment(source, node) in SUPPORT_SOURCES[target]
    ]
    defined = {node.name for node in support}
    tree.body = [node for node in tree.body if node not in support]
    scan = _Scan(target, tree, defined, bound, set(), [])
    scan.class_names |= {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    scan.layer_objects = {
        node.targets[0].id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Call)
        and (
            (_dotted(node.value.func) or "").startswith("layers.")
            or _dotted(node.value.func) in scan.class_names
            or _dotted(node.value.func) == "keras.Model"  # a block applied again (`use`): one nested model
        )
    }
    _check_docstring(scan, source, tree.body, model_name)
    _check_structure(scan, tree.body, model_name)
    docstring_node = tree.body[0].value if tree.body and isinstance(tree.body[0], ast.Expr) else None

    # Layers built in __init__: `self.<name> = nn.X(...)`, and a learned weight or bias given to
    # one after it is built: `self.<name>.bias = nn.Parameter(torch.zeros(4))`.
    given = {
        id(node.targets[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and GIVEN_PARAMETER.match(ast.unparse(node))
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if id(node) in given:
                continue
            if not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                scan.problem(node, f"assignment to the attribute {ast.unparse(node)}")
            elif not LAYER_NAME.match(node.attr) or node.attr in NN_MODULE_ATTRIBUTES:
                scan.problem(node, f"self.{node.attr} replaces an attribute of nn.Module or is no layer name")
            else:
                scan.self_modules.add(node.attr)

    allowed_names = scan.bound | BUILTIN_CALLS | {"__name__"}
    sanctioned = _repeated_blocks(scan, tree) | _keras_loops(scan, tree)
    sanctioned |= {
        id(piece)
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "name" and isinstance(node.value, ast.JoinedStr)
        if _layer_names(node.value)
        for piece in ast.walk(node.value)
        if not isinstance(piece, ast.Name)
    }
    annotations = {
        id(name)
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for argument in function.args.args
        if argument.annotation is not None
        for name in ast.walk(argument.annotation)
    }
    for node in ast.walk(tree):
        if id(node) in sanctioned:
            continue
        if isinstance(node, ast.Name) and id(node) in annotations and node.id in ("int", "float", "str"):
            continue  # a block's constructor takes its sizes: `c: int`; a block's function its call's name
        if isinstance(node, BANNED_NODES):
            scan.problem(node, f"{type(node).__name__} is not allowed")
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and node not in tree.body:
            scan.problem(node, "an import inside a definition")
        elif isinstance(node, ast.ClassDef) and node not in tree.body:
            scan.problem(node, "a nested class")
        elif isinstance(node, ast.FunctionDef):
            if node.decorator_list:
                scan.problem(node, f"decorated function {node.name}")
            if node.name not in {"build_model", "__init__", "forward"} | scan.block_functions:
                scan.problem(node, f"function {node.name}")
            arguments = node.args
            if arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.defaults:
                scan.problem(node, f"function {node.name} takes *args, **kwargs or defaults")
        elif isinstance(node, ast.If) and node not in tree.body:
            scan.problem(node, "a nested if")
        elif isinstance(node, ast.With):
            if [ast.unparse(item.context_expr) for item in node.items] != ["torch.no_grad()"]:
                scan.problem(node, f"with {ast.unparse(node.items[0].context_expr)}")
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and node.id not in allowed_names:
                scan.problem(node, f"the name {node.id} is used but never defined by the module")
            if not IDENTIFIER.match(node.id):
                scan.problem(node, f"the name {node.id!r}")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("__") and node.attr != "__init__":
                scan.problem(node, f"the dunder attribute .{node.attr}")
            if isinstance(node.value, ast.Name) and node.value.id == "self" and isinstance(node.ctx, ast.Load):
                if node.attr not in scan.self_modules:
                    scan.problem(node, f"self.{node.attr} is read but is not a layer built in __init__")
        elif isinstance(node, ast.Call):
            _check_call(scan, node)
        elif isinstance(node, ast.Constant) and node is not docstring_node:
            value = node.value
            if isinstance(value, bytes):
                scan.problem(node, "a bytes constant")
            elif isinstance(value, str) and value not in FIXED_STRINGS and not LAYER_PATH.match(value):
                scan.problem(node, f"the string constant {value!r}")
            elif isinstance(value, float) and not math.isfinite(value):
                scan.problem(node, f"the float constant {value!r}")
        elif isinstance(node, ast.Expr) and node is not tree.body[0] and not isinstance(node.value, ast.Call):
            scan.problem(node, f"an expression statement {ast.unparse(node)}")

    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and not COMMENT.match(token.string):
            scan.problem(tokenize_node(token), f"a comment archdsl did not write: {token.string!r}")
        elif token.type == tokenize.ERRORTOKEN:
            scan.problem(tokenize_node(token), f"an error token {token.string!r}")
    if scan.problems:
        raise UnsafeCode(f"unsafe {target} module:\n  " + "\n  ".join(scan.problems[:20]))


def tokenize_node(token: tokenize.TokenInfo) -> ast.AST:
    node = ast.Pass()
    node.lineno = token.start[0]
    return node


def generated_modules(program: archdsl.Program) -> list[tuple[str, str, str]]:
    """(model name, target, source) for every model of a program and both targets."""
    out = []
    for model in program.models:
        for target in TARGETS:
            out.append((model.name, target, archdsl.generate(model, target)))
    return out


def assert_safe_program(program: archdsl.Program) -> list[tuple[str, str, str]]:
    modules = generated_modules(program)
    assert modules, "the program has no model"
    for name, target, source in modules:
        check_generated(source, target, name)
        assert MARKER not in source, f"{target} code for {name} holds text copied from the spec"
    return modules


def parse_or_reject(text: str, filename: str = "<string>") -> archdsl.Program | None:
    """The program, or None for an ArchError; any other exception fails the test."""
    try:
        return archdsl.parse(text, filename)
    except archdsl.ArchError:
        return None


# ---------------------------------------------------------------- the corpus


HEADER = re.compile(r"# (REJECTED|SAFE)(?: (A\d{3}))?: (\S.+)\Z")


@dataclass(frozen=True)
class Hostile:
    path: Path
    verdict: str  # REJECTED or SAFE
    code: str | None  # the error code a REJECTED file must be refused with
    attack: str


def _read_corpus() -> list[Hostile]:
    entries = []
    for path in sorted(HOSTILE.glob("*.arch")):
        first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8").removeprefix("\ufeff")
        match = HEADER.match(first)
        assert match, f"{path.name}: the first line must be '# REJECTED Axxx: ...' or '# SAFE: ...', got {first!r}"
        entries.append(Hostile(path, match[1], match[2], match[3]))
    return entries


CORPUS = _read_corpus()

# Hostile specs archdsl gets wrong today: file stem -> what goes wrong. The tests assert the
# correct behaviour (the header of the file) and are expected to fail until archdsl is fixed.
KNOWN_BUGS: dict[str, str] = {}


def _corpus_params():
    for entry in CORPUS:
        marks = (
            [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[entry.path.stem])]
            if entry.path.stem in KNOWN_BUGS
            else []
        )
        yield pytest.param(entry, id=entry.path.stem, marks=marks)


def test_corpus_is_large_and_well_formed():
    assert len(CORPUS) >= 40
    verdicts = {entry.verdict for entry in CORPUS}
    assert verdicts == {"REJECTED", "SAFE"}
    for entry in CORPUS:
        assert entry.path.stem.startswith("reject_" if entry.verdict == "REJECTED" else "safe_"), entry.path.name
        if entry.verdict == "REJECTED":
            assert entry.code is not None, f"{entry.path.name}: say which error code rejects it"
    assert set(KNOWN_BUGS) <= {entry.path.stem for entry in CORPUS}


@pytest.mark.parametrize("entry", list(_corpus_params()))
def test_hostile_spec(entry: Hostile):
    try:
        program = archdsl.load(entry.path)
    except archdsl.ArchError as error:
        assert entry.verdict == "REJECTED", f"{entry.path.name} must be accepted: {error.render()}"
        codes = {d.code for d in error.diagnostics}
        assert entry.code in codes, f"{entry.path.name}: expected {entry.code}, got {sorted(codes)}"
        return
    assert entry.verdict == "SAFE", f"{entry.path.name} must be rejected with {entry.code}: {entry.attack}"
    modules = assert_safe_program(program)
    assert generated_modules(archdsl.load(entry.path)) == modules, "generation is not deterministic"


@pytest.fixture(scope="module")
def safe_sources(tmp_path_factory) -> list[Path]:
    """The generated code of every SAFE corpus entry and every example, written to a folder."""
    folder = tmp_path_factory.mktemp("safe_generated")
    paths: list[Path] = []
    sources = [e.path for e in CORPUS if e.verdict == "SAFE" and e.path.stem not in KNOWN_BUGS] + EXAMPLES
    for spec in sources:
        for name, target, source in generated_modules(archdsl.load(spec)):
            path = folder / f"{spec.stem}_{name}_{target}.py"
            path.write_text(source, encoding="utf-8")
            paths.append(path)
    return paths


def _ruff() -> list[str]:
    local = Path(sys.executable).parent / "ruff"
    if local.exists():
        return [str(local)]
    found = shutil.which("ruff")
    return [found] if found else [sys.executable, "-m", "ruff"]


def test_ruff_passes_on_safe_corpus_and_examples(safe_sources):
    result = subprocess.run(
        [*_ruff(), "check", "--isolated", "--no-cache", *sorted(p.name for p in safe_sources)],
        cwd=safe_sources[0].parent,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, f"ruff check failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_examples_generate_safe_code(example):
    assert_safe_program(archdsl.load(example))


# ---------------------------------------------------------------- the checker has teeth


CARD = (
    "model Net {\n"
    "  input 8x8x1 -> conv2d 4 same relu -> maxpool -> ( dense 4 as a | dense 4 as b ) -> add -> dense 2\n"
    "}\n"
)


def _clean(target: str) -> str:
    return archdsl.generate(archdsl.parse(CARD, "card.arch").models[0], target)


def _inject(source: str, after: str, line: str) -> str:
    index = source.index(after) + len(after)
    return source[:index] + line + source[index:]


TAMPERED = {
    "import os": (
        "both",
        lambda s: s.replace("import torch\n", "import torch\nimport os\n").replace(
            "import keras\n", "import keras\nimport os\n"
        ),
    ),
    "from os import system": ("both", lambda s: s.replace("\n\n\n", "\nfrom os import system\n\n\n", 1)),
    "__import__ call": ("keras", lambda s: _inject(s, "def build_model() -> keras.Model:\n", "    __import__('os')\n")),
    "eval call": ("keras", lambda s: _inject(s, "def build_model() -> keras.Model:\n", "    eval('1')\n")),
    "exec call": ("torch", lambda s: _inject(s, "super().__init__()\n", "        exec('1')\n")),
    "open call": ("torch", lambda s: _inject(s, "super().__init__()\n", "        open('/etc/passwd')\n")),
    "getattr call": (
        "keras",
        lambda s: _inject(s, "def build_model() -> keras.Model:\n", "    getattr(keras, 'Model')\n"),
    ),
    "os.system via torch": ("torch", lambda s: _inject(s, "super().__init__()\n", "        torch.os.system('x')\n")),
    "dunder attribute": ("torch", lambda s: _inject(s, "super().__init__()\n", "        x = self.__class__\n")),
    "lambda": ("keras", lambda s: _inject(s, "def build_model() -> keras.Model:\n", "    f = lambda: 1\n")),
    "unknown layers function": ("keras", lambda s: s.replace("layers.Conv2D(", "layers.deserialize(", 1)),
    "hostile string": ("keras", lambda s: s.replace('name="conv2d_1"', 'name="rm -rf /"', 1)),
    "f-string": ("keras", lambda s: s.replace('name="conv2d_1"', 'name=f"{1}"', 1)),
    "docstring break-out": (
        "both",
        lambda s: s.replace(" from card.arch.", ' from """ + __import__("os").name + """.', 1),
    ),
    "code in docstring": ("both", lambda s: s.replace(" from card.arch.", ' from card."""\nimport os\n""".', 1)),
    "copied comment": ("torch", lambda s: s.replace("# (N, 2)", "# PWNED\u2028import os", 1)),
    "non-ASCII": ("keras", lambda s: s.replace('name="conv2d_1"', 'name="conv2d\u200d1"', 1)),
    "nn.Module attribute": ("torch", lambda s: s.replace("self.dense_1", "self.training")),
    "extra function": (
        "both",
        lambda s: s.replace("\n\nif __name__", "\ndef hook():\n    return 1\n\n\nif __name__", 1),
    ),
    "with open": ("torch", lambda s: s.replace("with torch.no_grad():", "with open('x'):", 1)),
    "infinite float": ("keras", lambda s: s.replace("(2, 8, 8, 1)", "(2, 8, 8, 1e999)", 1)),
    "float of a string": (
        "keras",
        lambda s: _inject(s, "def build_model() -> keras.Model:\n", "    y = float('nan')\n"),
    ),
}


@pytest.mark.parametrize(
    ("spec", "defined", "line"),
    [
        ("input 8 -> dense 4 gelu_tanh", "def gelu_tanh(x):", "approximate=True)"),
        ("input 8x8x3 -> scale -> droppath 0.1", "class LayerScale(keras.layers.Layer):", "return inputs * self.gamma"),
        (
            "input seq -> embedding 9 4 mask_zero -> attention 2",
            "class MaskKeepingAttention(keras.layers.MultiHeadAttention):",
            "return output",
        ),
    ],
)
def test_checker_trusts_a_defined_helper_only_word_for_word(spec, defined, line):
    """A function or class from templates/<target>/classes/ passes as it is; edited, it is checked as code."""
    source = archdsl.generate(archdsl.parse(spec).model(), "keras")
    assert defined in source
    check_generated(source, "keras", "Model")
    edited = source.replace(line, f"{line} or __import__('os')", 1)
    assert edited != source
    with pytest.raises(UnsafeCode):
        check_generated(edited, "keras", "Model")


@pytest.mark.parametrize("tamper", TAMPERED, ids=lambda t: t.replace(" ", "_"))
def test_checker_rejects_tampered_code(tamper):
    which, edit = TAMPERED[tamper]
    targets = TARGETS if which == "both" else (which,)
    for target in targets:
        clean = _clean(target)
        check_generated(clean, target, "Net")
        tampered = edit(clean)
        assert tampered != clean, f"the tampering {tamper!r} did not apply to the {target} code"
        with pytest.raises(UnsafeCode):
            check_generated(tampered, target, "Net")


# ---------------------------------------------------------------- names: refused, never renamed


GENERATED_CODE_NAMES = {
    "self", "x", "y", "torch", "nn", "F", "keras", "layers", "ops", "np", "numpy", "tf", "inputs", "outputs",
    "model", "build_model", "forward", "main", "batch", "math", "super",
} | set(archdsl_names.GENERATED_CODE_NAMES)  # fmt: skip
BUILTIN_SAMPLE = {
    "print", "open", "eval", "exec", "compile", "getattr", "setattr", "globals", "vars", "input", "type", "object",
    "id", "len", "sum", "tuple", "float", "int", "str", "list", "dict", "exit", "quit", "help", "breakpoint",
    "copyright", "credits", "license", "Exception", "ValueError", "NotImplemented", "Ellipsis",
}  # fmt: skip
UNDERSCORE_NAMES = {
    "_private",
    "_",
    "__class__",
    "__import__",
    "__init__",
    "__dict__",
    "__builtins__",
    "_share",
    "_Model",
}
RESERVED_NAMES = sorted(
    GENERATED_CODE_NAMES | set(keyword.kwlist) | set(keyword.softkwlist) | BUILTIN_SAMPLE | UNDERSCORE_NAMES
)
LANGUAGE_WORDS = {"block", "model", "input", "residual", "as", "x"}  # the grammar's own reserved words
NAME_PLACES = {
    "model": "model {n} {{\n  input 8 -> dense 2\n}}\n",
    "layer": "input 8 -> dense 2 as {n} -> relu\n",
    "branch": "input 8 -> ( dense 2 as {n} | dense 2 ) -> add\n",
    "block_call": "block stem(c) = dense c\nmodel Net {{\n  input 8 -> stem 2 as {n}\n}}\n",
}


@pytest.mark.parametrize("place", NAME_PLACES)
@pytest.mark.parametrize("name", RESERVED_NAMES)
def test_reserved_names_are_refused(name, place):
    text = NAME_PLACES[place].format(n=name)
    with pytest.raises(archdsl.ArchError) as caught:
        archdsl.parse(text, "names.arch")
    codes = {d.code for d in caught.value.diagnostics}
    expected = {"A102", "A103"} if name in LANGUAGE_WORDS else {"A207"}
    assert codes & expected, f"{name!r} as a {place} name: {sorted(codes)}"


def test_builtins_are_refused_as_names():
    accepted = [n for n in dir(builtins) if archdsl_names.reserved_reason(n) is None]
    assert not accepted, f"builtins accepted as names: {accepted}"


@pytest.mark.frameworks
def test_nn_module_attributes_are_refused_as_layer_names():
    accepted = sorted(n for n in NN_MODULE_ATTRIBUTES if parse_or_reject(NAME_PLACES["layer"].format(n=n)))
    assert not accepted, f"accepted as layer names, though they are attributes of nn.Module: {accepted}"


@pytest.mark.parametrize(
    "name", ["self_", "print_", "torch2", "nn_", "F1", "Keras", "Self", "Print", "Import", "l" * 64]
)
def test_names_close_to_reserved_ones_are_kept_as_written(name):
    program = archdsl.parse(NAME_PLACES["layer"].format(n=name), "names.arch")
    for _, target, source in assert_safe_program(program):
        assert f'"{name}"' in source if target == "keras" else f"self.{name} = " in source


HOSTILE_BLOCK_NAMES = [
    "self", "print", "eval", "exec", "open", "getattr", "__import__", "__class__", "_private", "torch", "nn", "F",
    "keras", "layers", "build_model", "forward", "os", "system", "raw", "endraw", "Net", "dense_1", "B" * 200,
]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE_BLOCK_NAMES)
def test_block_and_parameter_names_reach_the_code_only_safely(name):
    """Block names become classes and parameters constructor arguments, so a hostile one is made safe
    (`Block`, `param_1`) or kept where harmless; the flat code never holds them at all."""
    template = (
        "block {b}({p}, k=2) = dense {p} -> relu -> dense (k*{p})\n"
        "block outer({p}) = {b} {p} k=3 as first -> {b} ({p}+1)\n"
        "model Net {{\n  input 8 -> outer 4 -> {b} 2\n}}\n"
    )
    plain = archdsl.parse(template.format(b="blk", p="c"), "blocks.arch")
    hostile_name = parse_or_reject(template.format(b=name, p="c"), "blocks.arch")
    hostile_param = parse_or_reject(template.format(b="blk", p=name), "blocks.arch")
    assert hostile_name is not None, f"block name {name!r} refused, though it reaches code only made safe"
    flat = [archdsl.generate(model, "torch", flat=True) for model in plain.models]
    assert [archdsl.generate(model, "torch", flat=True) for model in hostile_name.models] == flat
    assert_safe_program(hostile_name)
    if name not in {"k", "outer"}:
        assert hostile_param is not None, f"parameter name {name!r} refused, though it reaches code only made safe"
        assert [archdsl.generate(model, "torch", flat=True) for model in hostile_param.models] == flat
        assert_safe_program(hostile_param)


# ---------------------------------------------------------------- values: only through literal()


@pytest.mark.parametrize(
    "text",
    [
        "input 8 -> leakyrelu 1e-320 -> dense 2",
        "input 8 -> batchnorm epsilon=1e-320 momentum=0.9999999999999 -> dense 2",
        "input 8 -> dropout 0.99999999999 -> dense 2",
        "input 8 -> leakyrelu 123456789.5 -> dense 2",
        "input 2147483647x1 -> conv1d 2147483647 2147483647",
        "input seq -> embedding 2147483647 1 -> dense 1",
        "input 4 -> reshape -1x2x2 -> flatten -> dense 1",
    ],
)
def test_extreme_numbers_become_plain_literals(text):
    assert_safe_program(archdsl.parse(text, "numbers.arch"))


@pytest.mark.parametrize(
    "value",
    ["nan", "inf", "-inf", "1e308", "1e999", "-1e999", "0x10", "0o17", "0b1", "1_000", "1j", "10**9", "9" * 16],
)
@pytest.mark.parametrize(
    "layer", ["dense {v}", "leakyrelu {v}", "dropout {v}", "batchnorm epsilon={v}", "conv1d 4 {v}"]
)
def test_hostile_numbers_are_refused(value, layer):
    text = f"input 16x4 -> {layer.format(v=value)} -> flatten -> dense 2"
    assert parse_or_reject(text, "numbers.arch") is None, f"{value} accepted in '{layer}'"


# ---------------------------------------------------------------- comments: never copied


SPEC_LINES = [
    "block conv_bn(c, k=3) = conv2d c k same -> batchnorm -> relu",
    "model Net {",
    "  input 32x32x3",
    "  -> conv_bn 16 -> maxpool",
    "  -> ( conv_bn 16 k=5 | identity ) -> add",
    "  -> globalavgpool -> dense 10 softmax as head",
    "}",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    comments=st.lists(
        st.text(st.characters(blacklist_characters="\n")), min_size=len(SPEC_LINES), max_size=len(SPEC_LINES)
    )
)
def test_comments_never_reach_the_code(comments):
    plain = archdsl.parse("\n".join(SPEC_LINES) + "\n", "comments.arch")
    commented = "\n".join(f"{line}  #{comment}" for line, comment in zip(SPEC_LINES, comments, strict=True)) + "\n"
    assert generated_modules(archdsl.parse(commented, "comments.arch")) == generated_modules(plain)


# ---------------------------------------------------------------- file names reach only the docstring

# File names appear in the docstring, reduced to safe characters, so their payloads are written
# in lower case: the upper-case MARKER check stays meaningful for spec text.


HOSTILE_FILENAMES = [
    'x"""; import os; """.arch',
    "x'''; import os; '''.arch",
    "a\nimport os\n.arch",
    "a\r\nimport os\r.arch",
    "a\\\nimport os.arch",
    "trailing\\",
    "{{ pwned }}.arch",
    "{% for x in y %}{# z #}.arch",
    "%s%n%(x)s{0}{}.arch",
    "$(touch pwned);`id`.arch",
    "\u043c\u043ed\u0435l\u202e\u200d\ufeff.arch",
    "\u2028\u2029\x85\x0b\x0c.arch",
    "\x00\x1b[2J\x07.arch",
    "\\N{DIGIT ONE}\\u0022\\x22.arch",
    "-o.arch",
    "<stdin>",
    "<string>",
    "",
    "d/" * 200 + "deep.arch",
    "x" * 20_000 + ".arch",
]
SIMPLE_SPEC = "input 8 -> dense 4 relu -> dense 2\n"


def _assert_docstring_source(source: str, filename: str) -> None:
    doc = ast.get_docstring(ast.parse(source), clean=False)
    assert doc is not None
    flat = " ".join(doc.split("\n"))
    expected = {"<stdin>": "standard input", "<string>": "a string"}.get(filename)
    expected = expected or re.sub(r"[^A-Za-z0-9_.\-/ ]", "?", filename.replace("\\", "/"))
    # textwrap may break the name across lines (and drops spaces where it does).
    squashed = re.sub(r"\s+", "", flat)
    assert re.sub(r"\s+", "", f"from {expected}.") in squashed


@pytest.mark.parametrize("filename", HOSTILE_FILENAMES, ids=lambda f: ascii(f)[:40])
def test_hostile_file_names_are_reduced_to_safe_characters(filename):
    program = archdsl.parse(SIMPLE_SPEC, filename)
    for _, _, source in assert_safe_program(program):
        _assert_docstring_source(source, filename)


@settings(max_examples=200, deadline=None)
@given(filename=st.text())
def test_any_file_name_gives_a_safe_docstring(filename):
    program = archdsl.parse(SIMPLE_SPEC, filename)
    for _, _, source in assert_safe_program(program):
        _assert_docstring_source(source, filename)


ON_DISK_NAMES = [
    'x"""; import os; """.arch',
    "a\nimport os\n.arch",
    "cr\rimport os.arch",
    "back\\slash.arch",
    "{{ pwned }}{% for %}{# #}.arch",
    "%s$(touch pwned)`touch pwned`;.arch",
    "\u043c\u043ed\u0435l\u202e\u2028.arch",
]


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, PYTHONIOENCODING="utf-8", NO_COLOR="1")
    return subprocess.run(
        [sys.executable, "-m", "archdsl", *args], cwd=cwd, capture_output=True, timeout=TIMEOUT, env=env
    )


@pytest.mark.skipif(sys.platform == "win32", reason="these file names are not allowed on Windows")
def test_hostile_file_names_on_disk_through_load_and_the_cli(tmp_path):
    names = []
    for name in ON_DISK_NAMES:
        try:
            (tmp_path / name).write_text(SIMPLE_SPEC, encoding="utf-8")
        except (OSError, UnicodeEncodeError):  # a file system that refuses the name
            continue
        names.append(name)
    assert names
    for name in names:
        for _, _, source in assert_safe_program(archdsl.load(tmp_path / name)):
            _assert_docstring_source(source, str(tmp_path / name))
        for target in TARGETS:
            result = _cli(["generate", name, "--target", target], tmp_path)
            assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
            source = result.stdout.decode("utf-8")
            check_generated(source, target, "Model")
            _assert_docstring_source(source, name)
        result = _cli(["check", name], tmp_path)
        assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    assert not (tmp_path / "pwned").exists(), "a file name was run by a shell"


# ---------------------------------------------------------------- fuzzing: ArchError or safe code, nothing else


TOKENS = [
    "input", "8", "4x4x1", "seq", "x", "->", "dense", "2", "conv2d", "3x3", "same", "relu", "as", "model", "block",
    "Net", "{", "}", "(", ")", "|", "*", "3", "=", ",", "\n", " ", "# PWNED", "add", "concat", "identity",
    "residual", "flatten", "lstm", "stride=2", "activation=", "self", "print", "torch", "__import__", "eval", "exec",
    "os", ".", "system", "'", '"', '"""', "\\", ";", "{{", "}}", "{%", "%}", "{#", "#}", "%s", "\r", "\u0430",
    "\u200d", "1e308", "1e-320", "nan", "inf", "0x10", "1_000", "100000", "-", "+", "//", "0", "-1", "training",
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    head=st.sampled_from(["", "input 8 -> ", "input 4x4x1 -> ", "block b(c) = dense c\nmodel Net { input 8 -> "]),
    tokens=st.lists(st.sampled_from(TOKENS), max_size=25),
)
def test_fuzzed_specs_are_refused_or_generate_safe_code(head, tokens):
    program = parse_or_reject(head + " ".join(tokens), "fuzz.arch")
    if program is None:
        return
    try:
        modules = generated_modules(program)
    except archdsl.ArchError as error:  # A601: a layer the target cannot express
        assert error.code == "A601", error.render()
        return
    for name, target, source in modules:
        if target == "torch" and any(f"self.{n} = " in source for n in NN_MODULE_ATTRIBUTES):
            continue  # the nn.Module attribute bug, tested above
        check_generated(source, target, name)
        assert MARKER not in source


SNIPPETS = [
    "dense {n}",
    "dense {n} {act}",
    "{act}",
    "leakyrelu 0.{n}",
    "dropout 0.{n}",
    "batchnorm epsilon=1e-{n}",
    "layernorm",
    "identity",
    "( dense {n} | dense {n} ) -> add",
    "( {act} | identity | dense 3 ) -> concat",
    "residual( {act} )",
    "( dense {n} {act} ) * {n}",
]
ACTIVATION_WORDS = [
    "relu", "relu6", "leakyrelu", "elu", "selu", "gelu", "gelu_tanh", "silu", "sigmoid", "tanh", "softmax",
    "hardswish", "hardsigmoid", "abs",
]  # fmt: skip
NAME_POOL = [
    "head", "stem", "trunk", "self", "print", "eval", "exec", "open", "torch", "nn", "F", "keras", "layers",
    "build_model", "forward", "__class__", "_private", "match", "lambda", "None", "Print", "self_", "x1", "dense_1",
]  # fmt: skip
PAYLOADS = ["", '"""; import os; """', "{{ PWNED }}", "{% for %}", "{# #}", "%s", "\\", "\r", "\u2028", "eval('PWNED')"]


@st.composite
def layer_chains(draw) -> str:
    """A valid chain of layers on a vector, with hostile names and comments sprinkled in."""
    lines = [draw(st.sampled_from(["input 8", "input 16"]))]
    for _ in range(draw(st.integers(1, 8))):
        snippet = draw(st.sampled_from(SNIPPETS)).format(
            n=draw(st.integers(1, 9)), act=draw(st.sampled_from(ACTIVATION_WORDS))
        )
        if not re.search(r"(\)|\* \d)\Z", snippet) and draw(st.booleans()):  # 'as' follows a layer only
            snippet += " as " + draw(
                st.sampled_from(NAME_POOL)
                | st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True).filter(lambda n: n not in LANGUAGE_WORDS)
            )
        comment = draw(st.sampled_from(PAYLOADS))
        lines.append(f"-> {snippet}" + (f"  # {comment}" if comment else ""))
    body = "\n  ".join(lines)
    if draw(st.booleans()):
        return f"model {draw(st.sampled_from(['Net', 'Model', 'self', 'Print', 'exec']))} {{\n  {body}\n}}\n"
    return body + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=layer_chains())
def test_fuzzed_valid_chains_generate_safe_code(text):
    """Chains that are valid but for their names: refused for a name (A207/A208), or safe code."""
    try:
        program = archdsl.parse(text, "chains.arch")
    except archdsl.ArchError as error:
        codes = {d.code for d in error.diagnostics}
        assert codes <= {"A207", "A208"}, error.render()
        return
    for name, target, source in generated_modules(program):
        if target == "torch" and any(f"self.{n} = " in source for n in NN_MODULE_ATTRIBUTES):
            continue  # the nn.Module attribute bug, tested above
        check_generated(source, target, name)
        assert MARKER not in source


@settings(max_examples=300, deadline=None)
@given(name=st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,70}", fullmatch=True))
def test_any_name_is_refused_or_emitted_safely(name):
    for place, template in NAME_PLACES.items():
        program = parse_or_reject(template.format(n=name), "names.arch")
        reason = archdsl_names.reserved_reason(name)
        if name in LANGUAGE_WORDS or reason is not None:
            assert program is None, f"{name!r} accepted as a {place} name, though {reason}"
            continue
        assert program is not None, f"{name!r} refused as a {place} name"
        for model_name, target, source in generated_modules(program):
            if name in NN_MODULE_ATTRIBUTES and target == "torch":
                continue  # the nn.Module attribute bug, tested above
            check_generated(source, target, model_name)


# ---------------------------------------------------------------- the documented limits


def test_limits_are_the_documented_ones():
    from archdsl import pipeline
    from archdsl.analysis import infer
    from archdsl.frontend import expand, parser, tree_builder
    from archdsl.layers import binding

    limits = {
        "MAX_NESTING": (parser.MAX_NESTING, 200),
        "MAX_NUMBER_DIGITS": (tree_builder._MAX_NUMBER_DIGITS, 15),
        "MAX_REPEAT": (expand.MAX_REPEAT, 10_000),
        "MAX_LAYERS": (expand.MAX_LAYERS, 100_000),
        "MAX_BLOCK_DEPTH": (expand.MAX_BLOCK_DEPTH, 100),
        "MAX_NAME_LENGTH": (archdsl_names.MAX_NAME_LENGTH, 64),
        "MAX_SOURCE_BYTES": (pipeline.MAX_SOURCE_BYTES, 10 * 1024 * 1024),
        "MAX_DIM": (infer.MAX_DIM, 2**31 - 1),
        "MAX_VALUE": (binding.MAX_VALUE, 2**31 - 1),
    }
    wrong = {name: value for name, (value, documented) in limits.items() if value != documented}
    assert not wrong, f"limits changed; update docs/security.md and this test: {wrong}"
    text = DOCS.read_text(encoding="utf-8")
    for phrase in ("200", "15 digits", "10,000", "100,000", "100 deep", "64 characters", "10 MiB", "2,147,483,647"):
        assert phrase in text, f"docs/security.md does not state the limit {phrase!r}"


def test_oversized_file_is_refused_before_parsing(tmp_path):
    from archdsl import pipeline

    path = tmp_path / "big.arch"
    with path.open("wb") as stream:
        stream.write(b"input 8 -> dense 2\n")
        stream.seek(pipeline.MAX_SOURCE_BYTES)
        stream.write(b"\n")
    with pytest.raises(archdsl.ArchError) as caught:
        archdsl.load(path)
    assert caught.value.code == "A502"


# ---------------------------------------------------------------- diagnostics: no terminal control characters


def test_error_messages_hold_no_control_characters_from_the_file_name():
    filename = "a\x1b]0;title\x07\x1b[2J\rb.arch"
    with pytest.raises(archdsl.ArchError) as caught:
        archdsl.parse("input 8 -> dense foo\n", filename)
    rendered = caught.value.render(color=False)
    control = sorted({ch for ch in rendered if not ch.isprintable() and ch not in "\n\t"})
    assert not control, f"control characters in the rendered diagnostics: {control!r}"


def test_error_messages_hold_no_control_characters_from_the_source():
    text = "input 8 -> dense foo  # \x1b]0;title\x07\x1b[2J\x08\n"
    with pytest.raises(archdsl.ArchError) as caught:
        archdsl.parse(text, "plain.arch")
    rendered = caught.value.render(color=False)
    assert "\x1b" not in rendered and "\x07" not in rendered and "\x08" not in rendered


BLOCKS_TAMPERED = {
    "a name built from a call": ('name=f"{name}.conv2d_1"', 'name=f"{__import__(name)}.conv2d_1"'),
    "a format spec in a name": ('name=f"{name}.conv2d_1"', 'name=f"{name!r}.conv2d_1"'),
    "another statement in the loop": ('x = basic(x, 16, name=f"basic_1.{i}")', "x = print(x)"),
    "a count read at run time": ("for i in range(3):", "for i in range(int(name)):"),
    "a default in a block's header": ("c: int, name: str)", 'c: int, name: str = "x")'),
    "a block that returns no tensor": ("    return x\n\n\ndef down", "    return None\n\n\ndef down"),
}


@pytest.mark.parametrize("tamper", BLOCKS_TAMPERED, ids=list(BLOCKS_TAMPERED))
def test_keras_block_functions_are_checked_as_strictly(tamper):
    """What the checker lets a Keras module with a function per block hold (f-string layer names,
    `for i in range(N)` around a block call) is that and nothing more."""
    model = archdsl.load(REPO / "examples" / "resnet.arch").model()
    source = archdsl.generate(model, "keras")
    check_generated(source, "keras", model.name)
    before, after = BLOCKS_TAMPERED[tamper]
    assert before in source
    with pytest.raises(UnsafeCode):
        check_generated(source.replace(before, after, 1), "keras", model.name)
