"""Writes ``nexusloop/world/_pipeline_api.pyi``: the typed face of pipelines and DAGs.

Why a generated stub
--------------------
A step is ``step(<World parameters>, value)``: the value is the *last* argument, after 0 to 8
World parameters. ``ParamSpec``/``Concatenate`` only describe leading arguments; a
``TypeVarTuple`` prefix (``Callable[[*Ts, Out], U]``) checks the value but infers ``Any`` as a
lambda's result; ``Callable[..., U]`` loses lambda inference altogether. What works is one
overload per arity::

    def __call__(self, step: Callable[[Out], U], ...) -> Pipeline[In, U]
    def __call__(self, step: Callable[[Any, Out], U], ...) -> Pipeline[In, U]
    ...                                     # up to 8 World parameters

Only the combinators whose *output type* comes from the step (``then``, ``map``, ``and_then``)
need them; they share two overloaded protocols (``_Then``, ``_AndThen``), each written once.
Steps whose result is not a new value type (``filter``, ``guard``, ``tap``, ``inspect``,
``scan``) use the ``TypeVarTuple`` prefix.

Why the stub sits next to ``_pipeline_api.py``, not ``_pipeline.py``
---------------------------------------------------------------------
mypy reads a ``.pyi`` *instead of* the ``.py`` beside it. The implementation
(``_pipeline.py``, ``_dag.py``) therefore has no stub and is type-checked like every other
module; ``_pipeline_api.py`` only re-exports its public classes, and this stub gives those
classes their precise types. The stub names nothing private.

Generated from the source, as trio's ``gen_exports`` does
---------------------------------------------------------
Every class, method, parameter name, parameter kind and default below is read from the
source's own definitions (``ast``); this file adds only the *typing* of each public method
(``TYPING``). A method added to the source without typing here fails the generator; the test
``tests/world/test_pipeline_typing.py`` fails when the committed stub differs from what this
writes, or when a public signature of the stub and of the source disagree.

Run ``python tools/gen_pipeline_stub.py`` after changing the public API of ``_pipeline.py`` or
``_dag.py`` (``--check`` exits 1 if the committed stub is stale).
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORLD = ROOT / "nexusloop" / "world"
SOURCES = (WORLD / "_pipeline.py", WORLD / "_dag.py")
STUB = WORLD / "_pipeline_api.pyi"
MAX_PARAMS = 8

#: The stub's classes, in order: the source module and the stub's base classes.
CLASSES: dict[str, tuple[str, str]] = {
    "Pipeline": ("_pipeline", "_Chain[_In, _Out]"),
    "OptionPipeline": ("_pipeline", "_Chain[_In, _Out]"),
    "Fork": ("_pipeline", "Generic[_In, _Out]"),
    "BuiltPipeline": ("_pipeline", "Generic[_In, _Out]"),
    "BatchPipeline": ("_pipeline", "Generic[_In]"),
    "Dag": ("_dag", "BuiltPipeline[_In, _Out]"),
    "DagStart": ("_dag", "Generic[_In]"),
}

_STEP = "Callable[[*_Ts, {value}], object]"

#: A method's typing: a protocol family (the attribute's type), or annotations for the
#: parameters and the return ("->"), or a list of such dicts (overloads); "=" lists the
#: parameters an overload makes required (drops their defaults), "#" a trailing comment.
Typing = str | dict[str, str] | list[dict[str, str]]


def _chain_typing(option: bool) -> dict[str, Typing]:
    kind = "OptionPipeline" if option else "Pipeline"
    seen = "_Out | None" if option else "_Out"
    same = f"{kind}[_In, _Out]"
    arm = "Pipeline[Any, _U] | OptionPipeline[Any, _U]"
    route_opt = {"predicate": "Callable[..., object]", "if_true": arm, "if_false": arm,
                 "->": "OptionPipeline[_In, _U]"}
    typing: dict[str, Typing] = {
        "then": f"_Then[_In, {seen}]",
        # On an OptionPipeline a None result means "no value", exactly what and_then does.
        "map": "_AndThen[_In, _Out]" if option else "_Then[_In, _Out]",
        "and_then": "_AndThen[_In, _Out]",
        "filter": {"predicate": _STEP.format(value="_Out"), "->": "OptionPipeline[_In, _Out]"},
        "guard": {"predicate": _STEP.format(value="_Out"), "->": same},
        "tap": {"step": _STEP.format(value=seen), "->": same},
        "inspect": {"step": _STEP.format(value="_Out"), "->": same},
        "scan": {"initial": "_A", "step": "Callable[[_A, *_Ts, _Out], _A]",
                 "->": f"{kind}[_In, _A]"},
        "catch": {"handler": "Callable[..., object]", "->": "OptionPipeline[_In, _Out]"},
        "dedup": {"key": "Callable[[_Out], object] | None", "->": "OptionPipeline[_In, _Out]"},
        "route": route_opt if option else [
            # Both arms plain chains: the route keeps a value. Overlaps the variant below by
            # design (a Pipeline arm also fits it), so the narrower one comes first.
            {"predicate": "Callable[..., object]", "if_true": "Pipeline[Any, _U]",
             "if_false": "Pipeline[Any, _U]", "->": "Pipeline[_In, _U]",
             "#": "type: ignore[overload-overlap]"},
            route_opt,
        ],
        "dispatch": {"handler": "Handler[_Out]", "->": f"{kind}[_In, None]"},
        "fork": {"->": "Fork[_In, _Out]"},
        "build": {"->": "BuiltPipeline[_In, _Out | None]" if option
                  else "BuiltPipeline[_In, _Out]"},
        "build_batch": {"->": "BatchPipeline[_In]"},
    }
    if option:
        typing["unwrap_or"] = {"default": "_D", "->": "Pipeline[_In, _Out | _D]"}
        typing["unwrap_or_else"] = {"make": "Callable[..., _D]", "->": "Pipeline[_In, _Out | _D]"}
    typing["__init__"] = {"registry": "Registry | World | None"}
    typing["start"] = [
        {"registry": "Registry | World | None", "event_type": "None",
         "->": "Pipeline[Any, Any]"},
        {"registry": "Registry | World | None", "event_type": "type[_T]",
         "->": "Pipeline[_T, _T]", "=": "registry,event_type"},
    ]
    return typing


TYPING: dict[str, dict[str, Typing]] = {
    "Pipeline": _chain_typing(option=False),
    "OptionPipeline": _chain_typing(option=True),
    "Fork": {
        "__init__": {"parent": "Pipeline[_In, _Out]"},
        "arm": {"build": "Callable[[Pipeline[_Out, _Out]], Pipeline[_Out, Any] | "
                         "OptionPipeline[_Out, Any]] | Pipeline[_Out, Any] | "
                         "OptionPipeline[_Out, Any]", "->": "Fork[_In, _Out]"},
        "merge": {"step": "Callable[..., _U]", "->": "Pipeline[_In, _U]"},
        "join": {"->": "Pipeline[_In, _Out]"},
    },
    "BuiltPipeline": {
        "__init__": {"run": "Callable[[World, _In], _Out | None]"},
    },
    "BatchPipeline": {
        "__init__": {"buffer": "list[_In]"},
    },
    "Dag": {
        "start": {"->": "DagStart[Any]"},
    },
    "DagStart": {
        "root": {"step": "Callable[..., Any]", "->": "Pipeline[_In, Any]"},
    },
}

#: Attributes of the stub's classes whose type the source does not spell out directly.
ATTRIBUTES: dict[str, dict[str, str]] = {
    "BuiltPipeline": {"run": "Callable[[World, _In], _Out | None]", "name": "str",
                      "source": "str", "kind": "ClassVar[str]"},
    "BatchPipeline": {"run": "Callable[[World], None]", "input": "list[_In]",
                      "capacity": "int", "name": "str", "source": "str"},
}

#: The overloaded protocols: name -> (the value's type variable, the step's result, the
#: result of the call).
FAMILIES: dict[str, tuple[str, str]] = {
    "_Then": ("_U", "Pipeline[_In, _U]"),
    "_AndThen": ("_U | None", "OptionPipeline[_In, _U]"),
}

HEADER = '''\
# Generated by tools/gen_pipeline_stub.py from _pipeline.py and _dag.py -- do not edit by hand.
"""Typed face of nexusloop.world's pipelines and DAGs (see tools/gen_pipeline_stub.py)."""
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeAlias, TypeVar, TypeVarTuple, overload

from ._handler import Handler
from ._pipeline_codegen import Op
from ._world import Registry, World

__all__ = [{names}]

{typevars}
_Params: TypeAlias = Sequence[Any] | None
'''


#: The stub's type variables (private to the stub, hence the underscores): name -> extra
#: arguments. ``_V_co`` is the value a protocol family's step receives (covariant: it only
#: appears in the step's parameters).
TYPEVARS: dict[str, str] = {
    "_In": "", "_Out": "", "_V_co": ", covariant=True", "_T": "", "_U": "", "_A": "", "_D": "",
}


# -- reading the source ---------------------------------------------------------------------------

def source_classes() -> dict[str, ast.ClassDef]:
    """The public classes of the sources, by name."""
    found: dict[str, ast.ClassDef] = {}
    for path in SOURCES:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                found[node.name] = node
    return found


def public_methods(cls: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> dict[str, ast.FunctionDef]:
    """Public methods (and ``__init__``) of ``cls``, inherited ones included, source order."""
    methods: dict[str, ast.FunctionDef] = {}
    for base in cls.bases:
        name = base.value.id if isinstance(base, ast.Subscript) and isinstance(
            base.value, ast.Name) else None
        if name in classes:
            methods.update(public_methods(classes[name], classes))
    for node in cls.body:
        if isinstance(node, ast.FunctionDef) and (
            not node.name.startswith("_") or node.name in ("__init__", "__len__")
        ):
            methods[node.name] = node
    return methods


def decorators(fn: ast.FunctionDef) -> list[str]:
    """The source's ``@classmethod`` / ``@staticmethod`` / ``@property``, kept in the stub."""
    return [d.id for d in fn.decorator_list
            if isinstance(d, ast.Name) and d.id in ("classmethod", "staticmethod", "property")]


# -- writing ----------------------------------------------------------------------------------

_TYPEVARS = {"In": "_In", "Out": "_Out", "T": "_T", "U": "_U", "A": "_A", "D": "_D"}


def _retype(annotation: ast.expr | None) -> str:
    """A source annotation in the stub's spelling (its type variables start with ``_``)."""
    if annotation is None:
        return "Any"

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.Name:
            return ast.Name(_TYPEVARS.get(node.id, node.id), node.ctx)

    text = ast.unparse(Rename().visit(annotation))
    return text.replace("Sequence[Any] | None", "_Params")


def signature(fn: ast.FunctionDef, types: dict[str, str]) -> str:
    """``(self, a: T = default, *, b: U = ...) -> R`` from the source, typed by ``types``."""
    args = fn.args
    parts: list[str] = []
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    no_default = set(types.get("=", "").split(",")) - {""}   # required in this overload
    for i, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        if i == 0 and arg.arg in ("self", "cls"):
            parts.append(arg.arg)
            continue
        text = f"{arg.arg}: {types.get(arg.arg) or _retype(arg.annotation)}"
        if default is not None and arg.arg not in no_default:
            text += f" = {_default(default)}"
        parts.append(text)
    if args.kwonlyargs:
        parts.append("*")
    for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
        text = f"{arg.arg}: {types.get(arg.arg) or _retype(arg.annotation)}"
        if kw_default is not None:
            text += f" = {_default(kw_default)}"
        parts.append(text)
    ret = types.get("->") or ("None" if fn.name == "__init__" else _retype(fn.returns))
    return f"({', '.join(parts)}) -> {ret}"


def _default(node: ast.expr) -> str:
    text = ast.unparse(node)
    return text if text in ("None", "()", "True", "False") else "..."


def render_family(name: str, call: ast.FunctionDef) -> list[str]:
    step_result, result = FAMILIES[name]
    lines = [f"class {name}(Protocol[_In, _V_co]):"]
    for n in range(MAX_PARAMS + 1):
        step = f"Callable[[{', '.join([*(['Any'] * n), '_V_co'])}], {step_result}]"
        lines.append("    @overload")
        lines.append(f"    def __call__{signature(call, {'step': step, '->': result})}: ...")
    return lines


def method_lines(name: str, node: ast.ClassDef, classes: dict[str, ast.ClassDef]) -> list[
        list[str]]:
    """The stub lines of each public method of class ``name`` (several for overloads)."""
    typing = TYPING.get(name, {})
    methods = public_methods(node, classes)
    unknown = set(typing) - set(methods)
    if unknown:
        raise SystemExit(f"{name}: typing for methods the source lacks: {sorted(unknown)}")
    out = []
    for method, fn in methods.items():
        spec = typing.get(method, {})
        if isinstance(spec, str):
            out.append([f"    {method}: {spec}"])
            continue
        lines = []
        variants = spec if isinstance(spec, list) else [spec]
        for types in variants:
            if len(variants) > 1:
                lines.append("    @overload")
            lines.extend(f"    @{d}" for d in decorators(fn))
            comment = f"  # {types['#']}" if "#" in types else ""
            lines.append(f"    def {method}{signature(fn, types)}: ...{comment}")
        out.append(lines)
    return out


def render_class(name: str, base: str, methods: list[list[str]]) -> list[str]:
    lines = [f"class {name}({base}):"]
    lines.extend(f"    {attr}: {annotation}" for attr, annotation in ATTRIBUTES.get(name, {}).items())
    lines.extend(line for method in methods for line in method)
    return lines


def render() -> str:
    classes = source_classes()
    missing = set(CLASSES) - set(classes)
    if missing:
        raise SystemExit(f"classes not found in the source: {sorted(missing)}")
    untyped = [f"{c}.{m}" for c in ("Pipeline", "OptionPipeline")
               for m in public_methods(classes[c], classes)
               if m not in TYPING[c] and m != "__len__"]
    if untyped:
        raise SystemExit(f"public methods without typing in tools/gen_pipeline_stub.py: {untyped}")
    names = ", ".join(f'"{n}"' for n in sorted(CLASSES))
    typevars = "".join(f'{n} = TypeVar("{n}"{extra})\n' for n, extra in TYPEVARS.items())
    typevars += '_Ts = TypeVarTuple("_Ts")\n'
    out = [HEADER.format(names=names, typevars=typevars)]
    then = public_methods(classes["Pipeline"], classes)["then"]
    for family in FAMILIES:
        out.append("\n".join(render_family(family, then)) + "\n")
    methods = {name: method_lines(name, classes[name], classes) for name in CLASSES}
    # What Pipeline and OptionPipeline declare identically is written once, in a base class
    # that exists only in the stub.
    shared = [m for m in methods["Pipeline"] if m in methods["OptionPipeline"]]
    out.append("\n".join(render_class("_Chain", "Generic[_In, _Out]", shared)) + "\n")
    for name, (_, base) in CLASSES.items():
        own = [m for m in methods[name] if m not in shared] if name in (
            "Pipeline", "OptionPipeline") else methods[name]
        out.append("\n".join(render_class(name, base, own)) + "\n")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the stub is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if STUB.read_text() != text:
            print(f"{STUB} is stale: run python tools/gen_pipeline_stub.py", file=sys.stderr)
            return 1
        return 0
    STUB.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
