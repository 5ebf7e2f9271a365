"""Property tests: any text, any tree compiles to an allowed function or raises ExpressionError.

Nothing else escapes, and no dangerous builtin is called while compiling or evaluating: they are
replaced by recorders that raise, so a call shows up even if something swallowed the exception.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import time
import warnings
from collections.abc import Callable, Iterator

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaffold.problems.expression import (
    CONSTANTS,
    FUNCTIONS,
    ExpressionError,
    compile_expression,
    compile_tree,
)

NAMES = ["x", "y"]
DANGEROUS = [
    "__import__", "open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "globals",
    "locals", "vars", "breakpoint", "input", "exit", "quit", "help", "memoryview",
]  # fmt: skip


def internal_import(name: object) -> bool:
    """Imports made on every call whatever the input: the parser normalises non-ASCII names with
    unicodedata; torch re-imports its own modules (e.g. autograd's NestedTensor, ``x - 1``)."""
    return isinstance(name, str) and (name == "unicodedata" or name.split(".")[0] == "torch")


SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class BuiltinCalled(BaseException):
    """Raised by a replaced builtin; a BaseException so that ``except Exception`` cannot hide it."""


@contextlib.contextmanager
def builtins_forbidden() -> Iterator[list[str]]:
    """Replace the dangerous builtins; yield the list of those called (must stay empty).

    Allowed: ``compile(..., flags=PyCF_ONLY_AST)``, which is what ``ast.parse`` does (it builds a
    tree and never produces code), and the ``internal_import`` names.
    """
    called: list[str] = []
    originals = {name: builtins.__dict__[name] for name in DANGEROUS if name in builtins.__dict__}

    def recorder(name: str):
        def call(*args, **kwargs):
            flags = args[3] if len(args) > 3 else kwargs.get("flags", 0)
            if name == "compile" and flags & ast.PyCF_ONLY_AST and not flags & ~ast.PyCF_ONLY_AST:
                return originals["compile"](*args, **kwargs)
            if name == "__import__" and args and internal_import(args[0]):
                return originals["__import__"](*args, **kwargs)
            called.append(name)
            raise BuiltinCalled(name)

        return call

    for name in originals:
        builtins.__dict__[name] = recorder(name)
    try:
        yield called
    finally:
        builtins.__dict__.update(originals)


@pytest.fixture(autouse=True, scope="module")
def _warm_torch() -> None:
    # torch imports some modules lazily on the first backward; do that before builtins are replaced.
    x = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    sum(f(x).sum() for f in FUNCTIONS.values()).backward()
    ast.parse("é", mode="eval")


def evaluate(f) -> torch.Tensor:
    """Value of ``f`` at a fixed point, with a backward pass (both may be NaN, never an exception)."""
    params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.7, -1.3)]
    value = f(*params[: len(f.names)])
    value.backward()
    return value.detach()


def check(text: str, names: list[str] = NAMES) -> ExpressionError | torch.Tensor:
    """Compile and evaluate ``text`` with dangerous builtins forbidden; the error or the value."""
    with builtins_forbidden() as called:
        try:
            outcome: ExpressionError | torch.Tensor = evaluate(compile_expression(text, names))
        except ExpressionError as error:
            outcome = error
    assert called == []
    if isinstance(outcome, ExpressionError):
        message = str(outcome)
        assert message.startswith("model.objective") and "\n" not in message and len(message) < 700
    else:
        assert outcome.shape == () and outcome.dtype == torch.float64
        assert not forbidden_parts(ast.parse(text.strip(), mode="eval"))
    return outcome


ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Call, ast.Load)
ALLOWED_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.UAdd, ast.USub)


def forbidden_parts(tree: ast.AST) -> list[str]:
    """An independent reading of the allow-list: the parts of ``tree`` it does not allow."""
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.operator, ast.unaryop)):
            bad += [] if isinstance(node, ALLOWED_OPS) else [type(node).__name__]
        elif not isinstance(node, ALLOWED_NODES):
            bad.append(type(node).__name__)
        elif isinstance(node, ast.Constant) and type(node.value) not in (int, float):
            bad.append(repr(node.value))
        elif isinstance(node, ast.Name) and node.id not in [*NAMES, *CONSTANTS, *FUNCTIONS]:
            bad.append(node.id)
        elif isinstance(node, ast.Call):
            named = isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
            bad += [] if named and not node.keywords and len(node.args) == 1 else ["call"]
    return bad


CLASSIC_ESCAPES = [
    "__import__('os')",
    "__import__('os').system('id')",
    "().__class__.__bases__[0].__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "x.__class__",
    "sin.__globals__",
    "open('f')",
    "eval('1')",
    "exec('import os')",
    "compile('1', 'f', 'eval')",
    "getattr(x, '__class__')",
    "__builtins__",
    "(lambda: 1)()",
    "f'{x}'",
    "x**99999999",
    "x**-99999999",
    "9**9**9**9",
    "'a' * 10**9",
    "x" * 100_000,
    "(" * 500 + "x" + ")" * 500,
    "(" * 199 + "x.real" + ")" * 199,
    "-" * 999 + "x",
]


@pytest.mark.parametrize("text", CLASSIC_ESCAPES, ids=[t[:30] for t in CLASSIC_ESCAPES])
def test_classic_escapes_are_refused_cheaply_without_calling_builtins(text):
    start = time.perf_counter()
    outcome = check(text, ["x"])
    assert isinstance(outcome, ExpressionError), outcome
    assert time.perf_counter() - start < 1.0


TOKENS = [
    "x", "y", "z", "1", "2.5", "1e999", "(", ")", "[", "]", "+", "-", "*", "/", "**", "//", "%", "@",
    ".", ",", ":", "=", ":=", "<", "==", "sin", "exp", "log", "pi", "e", "__import__", "open", "eval",
    "__class__", "'os'", "lambda", "if", "else", "not", "and", "for", "in", "*", "True", "None", "\n",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), max_size=25).map("".join)


@SETTINGS
@given(text=st.one_of(st.text(max_size=200), token_soup))
def test_any_text_compiles_to_an_allowed_function_or_raises_expression_error(text):
    try:  # declare just the parameters the text uses, so that success is possible
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            names = _names(ast.parse(text.strip(), mode="eval")) or NAMES
    except (SyntaxError, ValueError):
        names = NAMES
    check(text, names)


def _names(tree: ast.AST) -> list[str]:
    return sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id in NAMES})


def _tree(body: ast.expr) -> ast.Expression:
    return ast.Expression(body=body)


# Non-negative, as the parser makes them (-1 is USub(1)); Constant(-1) ** 0 would unparse to -1 ** 0.
finite_numbers = st.one_of(st.integers(0, 100), st.floats(0, 1e3))
allowed_leaves = st.one_of(
    st.sampled_from(["x", "y", "pi", "e"]).map(lambda n: ast.Name(n, ast.Load())),
    finite_numbers.map(ast.Constant),
)


def _allowed(children: st.SearchStrategy) -> st.SearchStrategy:
    ops = st.sampled_from([ast.Add, ast.Sub, ast.Mult, ast.Div]).map(lambda op: op())
    negative = ast.UnaryOp(ast.USub(), ast.Constant(2))
    exponents = st.one_of(st.integers(0, 4).map(ast.Constant), st.just(negative))
    functions = st.sampled_from(sorted(FUNCTIONS)).map(lambda n: ast.Name(n, ast.Load()))
    return st.one_of(
        st.builds(ast.BinOp, children, ops, children),
        st.builds(lambda a, p: ast.BinOp(a, ast.Pow(), p), children, exponents),
        st.builds(ast.UnaryOp, st.sampled_from([ast.UAdd(), ast.USub()]), children),
        st.builds(lambda f, a: ast.Call(f, [a], []), functions, children),
    )


allowed_trees = st.recursive(allowed_leaves, _allowed, max_leaves=12)


@SETTINGS
@given(body=allowed_trees)
def test_allowed_trees_compile_and_agree_with_their_text(body):
    tree, names = _tree(body), _names(body)
    text = ast.unparse(tree)
    outcome = check(text, names)
    if isinstance(outcome, ExpressionError):
        # Only two refusals are possible here: nothing to optimise, or a constant part that overflows.
        assert "no parameters" in str(outcome) or "this constant part evaluates to" in str(outcome)
        assert not names or "no parameters" not in str(outcome)
    else:
        assert names
        torch.testing.assert_close(evaluate(compile_tree(tree, names)), outcome, equal_nan=True)


def _arguments() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], defaults=[])


L, S = ast.Load(), ast.Store()
# Each wraps an allowed subtree (keeping its parameters) in one construct the allow-list refuses.
WRAPPERS: dict[str, Callable[[ast.expr], ast.expr]] = {
    "attribute": lambda n: ast.Attribute(n, "__class__", L),
    "subscript": lambda n: ast.Subscript(n, ast.Constant(0), L),
    "slice": lambda n: ast.Subscript(n, ast.Slice(None, ast.Constant(1), None), L),
    "other call": lambda n: ast.Call(ast.Name("open", L), [n], []),
    "import": lambda n: ast.Call(ast.Name("__import__", L), [n], []),
    "call of a call": lambda n: ast.Call(ast.Call(ast.Name("sin", L), [n], []), [], []),
    "keyword": lambda n: ast.Call(ast.Name("sin", L), [], [ast.keyword("x", n)]),
    "two arguments": lambda n: ast.Call(ast.Name("sin", L), [n, n], []),
    "starred": lambda n: ast.Call(ast.Name("sin", L), [ast.Starred(n, L)], []),
    "lambda": lambda n: ast.Call(ast.Lambda(_arguments(), n), [], []),
    "comprehension": lambda n: ast.ListComp(n, [ast.comprehension(ast.Name("a", S), n, [], 0)]),
    "generator": lambda n: ast.GeneratorExp(n, [ast.comprehension(ast.Name("a", S), n, [], 0)]),
    "string": lambda n: ast.BinOp(n, ast.Add(), ast.Constant("s")),
    "bytes": lambda n: ast.BinOp(n, ast.Add(), ast.Constant(b"s")),
    "bool": lambda n: ast.BinOp(n, ast.Add(), ast.Constant(True)),
    "none": lambda n: ast.BinOp(n, ast.Add(), ast.Constant(None)),
    "complex": lambda n: ast.BinOp(n, ast.Add(), ast.Constant(1j)),
    "undeclared": lambda n: ast.BinOp(n, ast.Add(), ast.Name("z", L)),
    "builtin name": lambda n: ast.BinOp(n, ast.Add(), ast.Name("__builtins__", L)),
    "comparison": lambda n: ast.Compare(n, [ast.Lt()], [ast.Constant(1)]),
    "conditional": lambda n: ast.IfExp(ast.Constant(1), n, n),
    "and": lambda n: ast.BoolOp(ast.And(), [n, n]),
    "walrus": lambda n: ast.NamedExpr(ast.Name("z", S), n),
    "tuple": lambda n: ast.Tuple([n, n], L),
    "list": lambda n: ast.List([n], L),
    "set": lambda n: ast.Set([n]),
    "dict": lambda n: ast.Dict([ast.Constant(1)], [n]),
    "f-string": lambda n: ast.JoinedStr([ast.FormattedValue(n, -1, None)]),
    "floor division": lambda n: ast.BinOp(n, ast.FloorDiv(), n),
    "modulo": lambda n: ast.BinOp(n, ast.Mod(), ast.Constant(2)),
    "matmul": lambda n: ast.BinOp(n, ast.MatMult(), n),
    "bit operator": lambda n: ast.BinOp(n, ast.BitXor(), n),
    "not": lambda n: ast.UnaryOp(ast.Not(), n),
    "invert": lambda n: ast.UnaryOp(ast.Invert(), n),
    "expression exponent": lambda n: ast.BinOp(n, ast.Pow(), ast.BinOp(ast.Constant(2), ast.Add(), n)),
    "huge exponent": lambda n: ast.BinOp(n, ast.Pow(), ast.Constant(99999999)),
    "function as a value": lambda n: ast.BinOp(n, ast.Add(), ast.Name("exp", L)),
}


def inject(body: ast.expr, wrap: Callable[[ast.expr], ast.expr], index: int) -> ast.expr:
    """A copy of ``body`` with the ``index``-th subexpression (mod their number) wrapped by ``wrap``."""
    body = copy.deepcopy(body)
    nodes = [node for node in ast.walk(body) if isinstance(node, ast.expr)]
    target = nodes[index % len(nodes)]

    class Wrap(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> ast.AST:
            return wrap(node) if node is target else super().visit(node)

    return Wrap().visit(body)


@pytest.mark.parametrize("kind", sorted(WRAPPERS))
@settings(SETTINGS, max_examples=25)
@given(body=allowed_trees, index=st.integers(0, 50))
def test_one_forbidden_part_anywhere_in_an_allowed_tree_is_refused(kind, body, index):
    tree = _tree(inject(body, WRAPPERS[kind], index))
    names = _names(tree) or ["x"]
    with pytest.raises(ExpressionError):
        compile_tree(tree, names)
    assert isinstance(check(ast.unparse(tree), names), ExpressionError)


any_constant = st.one_of(
    st.integers(-(10**40), 10**40), st.floats(), st.booleans(), st.none(), st.just(...),
    st.text(max_size=4), st.binary(max_size=4), st.complex_numbers(max_magnitude=10),
)  # fmt: skip
any_name = st.sampled_from(["x", "y", "z", "pi", "sin", "__import__", "open", "eval", "os", "__builtins__"])
any_leaves = st.one_of(any_name.map(lambda n: ast.Name(n, L)), any_constant.map(ast.Constant))


def _anything(children: st.SearchStrategy) -> st.SearchStrategy:
    wrapped = st.builds(lambda kind, c: WRAPPERS[kind](c), st.sampled_from(sorted(WRAPPERS)), children)
    return st.one_of(_allowed(children), wrapped)


any_trees = st.recursive(any_leaves, _anything, max_leaves=15)


@SETTINGS
@given(body=any_trees)
def test_any_tree_compiles_to_an_allowed_function_or_raises_expression_error(body):
    tree, names = _tree(body), _names(body) or NAMES
    try:
        from_tree = compile_tree(tree, names)
    except ExpressionError as error:
        from_tree = error
    else:
        evaluate(from_tree)
    if forbidden_parts(tree):
        assert isinstance(from_tree, ExpressionError)
    try:
        text = ast.unparse(tree)
    except ValueError:  # e.g. an f-string part with a backslash, which Python 3.11 cannot write out
        return
    from_text = check(text, names)
    if forbidden_parts(tree):
        assert isinstance(from_text, ExpressionError)
