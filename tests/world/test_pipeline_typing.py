"""mypy infers pipeline step types: lambdas, World-parameter steps, Option-ness, outputs.

The samples are written to a temporary directory and checked with ``mypy --strict``: the good
sample uses ``assert_type`` (a wrong inference is an error), and each line of the bad sample
must be reported, so the test fails if the stub's overloads ever degrade to ``Any``. The
implementation modules are checked in the same run. Two more tests keep the committed
``_pipeline_api.pyi`` equal to what ``tools/gen_pipeline_stub.py`` writes, and every public
signature of the stub equal to the one of the running source (read with ``inspect``, not with
the generator's own ``ast`` reading).
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import nexusloop.world as world_pkg

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "nexusloop" / "world"
CHECKED = ("_pipeline_api.pyi", "_pipeline.py", "_dag.py", "_fanout.py", "_pipeline_codegen.py",
           "_emit.py")

GOOD = '''
from typing import Any, assert_type
from nexusloop.world import (BatchPipeline, BuiltPipeline, Dag, OptionPipeline, Pipeline,
                             Res, ResMut, WorldBuilder, Cell, into_handler)

class Cfg:
    k: int = 1

def scale(cfg: Res[Cfg], x: int) -> float:
    return x * cfg.k

def store(c: ResMut[Cell[int]], cfg: Res[Cfg], x: str) -> bytes:
    return x.encode()

def to_text(x: float) -> str:
    return str(x)

world = WorldBuilder().build()
reg = world.registry

p = Pipeline.start(reg, int)
assert_type(p, Pipeline[int, int])
p2 = p.then(lambda x: x + 1).then(scale).map(to_text)
assert_type(p2, Pipeline[int, str])
assert_type(p2.then(store), Pipeline[int, bytes])
o = p2.filter(lambda s: s.startswith("1"))
assert_type(o, OptionPipeline[int, str])
o2 = o.map(len)
assert_type(o2, OptionPipeline[int, int])
assert_type(o2.and_then(lambda n: n if n else None), OptionPipeline[int, int])
u = o2.unwrap_or("none")
assert_type(u, Pipeline[int, int | str])
b = u.build()
assert_type(b, BuiltPipeline[int, int | str])
assert_type(b.run(world, 3), int | str | None)
assert_type(o2.build(), BuiltPipeline[int, int | None])
batch = p.then(scale).build_batch(8)
assert_type(batch, BatchPipeline[int])
batch.input.append(3)
assert_type(p.scan(0.0, lambda acc, x: acc + x), Pipeline[int, float])
assert_type(o.then(lambda s: s is None), Pipeline[int, bool])
assert_type(p.tap(print).guard(lambda x: x > 0), Pipeline[int, int])
assert_type(p.catch(print).inspect(print), OptionPipeline[int, int])
assert_type(p.dedup(key=lambda x: x % 2), OptionPipeline[int, int])
assert_type(p.then(lambda c, x: x, params=[Res[Cfg]]), Pipeline[int, int])
# route and merge accept their arms; arm outputs are not tracked precisely (Any)
r = p.route(lambda x: x > 0, Pipeline.start(reg).then(str), Pipeline.start(reg).then(repr))
r.build()
m = p.fork().arm(lambda a: a.then(str)).arm(lambda b: b).merge(lambda a, b: (a, b))
assert_type(m, Pipeline[int, tuple[Any, Any]])
h = into_handler(lambda c, e: None, reg, params=[ResMut[Cell[int]]])
p.dispatch(h)
'''

BAD = '''
from nexusloop.world import Pipeline, Res, WorldBuilder

class Cfg:
    k: int = 1

def scale(cfg: Res[Cfg], x: int) -> float:
    return x * cfg.k

reg = WorldBuilder().build().registry
Pipeline.start(reg, str).then(scale)  # E: arg-type
Pipeline.start(reg, int).then(lambda x: x.upper())  # E: attr-defined
Pipeline.start(reg, int).filter(bool).map(abs).then(lambda x: x + 1)  # E: operator
Pipeline.start(reg, int).unwrap_or(0)  # E: attr-defined
Pipeline.start(reg, int).then(str).map(scale)  # E: arg-type
x: int = Pipeline.start(reg, int).filter(bool).build().run(reg.world, 1)  # E: assignment
'''


@pytest.fixture(scope="module")
def mypy_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("pipeline_typing")
    (tmp / "good_pipeline.py").write_text(GOOD)
    (tmp / "bad_pipeline.py").write_text(BAD)
    stdout, stderr, _status = mypy_api.run([
        "--strict", "--follow-imports=silent", "--no-error-summary", "--show-error-codes",
        "--cache-dir", str(tmp / "cache"),
        str(tmp / "good_pipeline.py"), str(tmp / "bad_pipeline.py"),
        *(str(WORLD / name) for name in CHECKED),
    ])
    assert not stderr, stderr
    return stdout


def _errors(output: str, filename: str) -> list[tuple[int, str]]:
    found = []
    for line in output.splitlines():
        m = re.match(rf".*{re.escape(filename)}:(\d+): error: .*\[([\w-]+)\]$", line)
        if m:
            found.append((int(m.group(1)), m.group(2)))
    return found


def test_good_sample_infers_types(mypy_output: str) -> None:
    assert _errors(mypy_output, "good_pipeline.py") == [], mypy_output


def test_bad_sample_reports_every_marked_line(mypy_output: str) -> None:
    expected = [(n, m.group(1)) for n, line in enumerate(BAD.splitlines(), 1)
                if (m := re.search(r"# E: ([\w-]+)", line))]
    assert len(expected) == 6
    assert sorted(_errors(mypy_output, "bad_pipeline.py")) == expected, mypy_output


def test_modules_are_clean_under_strict(mypy_output: str) -> None:
    for name in CHECKED:
        assert _errors(mypy_output, f"world/{name}") == [], mypy_output


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_pipeline_stub",
                                                  ROOT / "tools" / "gen_pipeline_stub.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_stub_is_generated() -> None:
    gen = _generator()
    assert gen.STUB.read_text() == gen.render(), "run: python tools/gen_pipeline_stub.py"


# -- the stub and the source agree on every public signature ----------------------------------

Shape = tuple[tuple[str, str, bool], ...]   # (name, kind, has a default) per parameter


def _stub_shape(fn: ast.FunctionDef) -> Shape:
    args = fn.args
    positional = [*args.posonlyargs, *args.args]
    first_default = len(positional) - len(args.defaults)
    shape = [(a.arg, "POSITIONAL_OR_KEYWORD", i >= first_default)
             for i, a in enumerate(positional)
             if not (i == 0 and a.arg in ("self", "cls"))]
    shape += [(a.arg, "KEYWORD_ONLY", d is not None)
              for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    return tuple(shape)


def _source_shape(fn: Any) -> Shape:
    params = list(inspect.signature(fn).parameters.values())
    if params and params[0].name in ("self", "cls"):
        params = params[1:]
    return tuple((p.name, p.kind.name, p.default is not p.empty) for p in params)


def _stub_methods() -> dict[str, dict[str, list[Shape]]]:
    """class -> public method -> the shape of each of its overloads, as the stub declares."""
    tree = ast.parse((WORLD / "_pipeline_api.pyi").read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    out: dict[str, dict[str, list[Shape]]] = {}

    def members(node: ast.ClassDef) -> list[ast.stmt]:   # own and inherited, as mypy sees them
        inherited = [base.value.id for base in node.bases if isinstance(base, ast.Subscript)
                     and isinstance(base.value, ast.Name) and base.value.id in classes]
        return [*(s for b in inherited for s in members(classes[b])), *node.body]

    for name, node in classes.items():
        if name.startswith("_"):
            continue
        methods: dict[str, list[Shape]] = {}
        own: dict[str, list[ast.FunctionDef]] = {}
        for item in members(node):
            if isinstance(item, ast.FunctionDef):
                if item.name in methods and item not in own.get(item.name, []):
                    methods[item.name] = []   # overridden: only the subclass's overloads count
                own.setdefault(item.name, []).append(item)
                methods.setdefault(item.name, []).append(_stub_shape(item))
            elif (isinstance(item, ast.AnnAssign) and isinstance(item.annotation, ast.Subscript)
                  and isinstance(item.annotation.value, ast.Name)
                  and item.annotation.value.id in classes):   # a method typed by a protocol
                family = classes[item.annotation.value.id]
                assert isinstance(item.target, ast.Name)
                methods[item.target.id] = [_stub_shape(f) for f in family.body
                                           if isinstance(f, ast.FunctionDef)]
        out[name] = methods
    return out


def test_stub_and_source_agree_on_every_public_signature() -> None:
    stub = _stub_methods()
    assert set(stub) == set(world_pkg._pipeline_api.__all__)
    for cls_name, methods in stub.items():
        cls = getattr(world_pkg, cls_name)
        public = {m for m in dir(cls) if not m.startswith("_") and callable(getattr(cls, m))}
        assert public == {m for m in methods if not m.startswith("_")}, cls_name
        for method, shapes in methods.items():
            expected = _source_shape(getattr(cls, method))
            for shape in shapes:
                # Same names and kinds; an overload may make a parameter required, never the
                # other way round.
                assert [p[:2] for p in shape] == [p[:2] for p in expected] and all(
                    source[2] or not declared[2]
                    for declared, source in zip(shape, expected, strict=True)
                ), f"{cls_name}.{method}: stub {shape} != source {expected}"

