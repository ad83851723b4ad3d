"""The house's one direction, checked on the source: schema → resolvers → store, never back.

Read from the import statements (ast), so a function-level import counts too; imports under
`if TYPE_CHECKING:` never run and do not."""

from __future__ import annotations

import ast
import functools
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "contactql"


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        found[name] = path
    return found


MODULES = _modules()


def _runtime_nodes(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue
        yield child
        yield from _runtime_nodes(child)


@functools.cache
def imports_of(name: str) -> frozenset[str]:
    """Every module `name` imports when it runs: contactql modules and third-party roots."""
    out: set[str] = set()
    for node in _runtime_nodes(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{name}: a relative import; the layer tests read absolute ones"
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                out.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return frozenset(out)


def _layer(name: str) -> str:
    return name.split(".")[1] if name.count(".") >= 1 else name


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _layer(n) in ("resolvers", "store")))
def test_no_import_goes_back_up(name: str) -> None:
    """Resolvers return rows and never import schema/; the store imports neither."""
    above = {"resolvers": ("contactql.schema",), "store": ("contactql.schema", "contactql.resolvers", "contactql.workers", "contactql.app")}[_layer(name)]
    assert not [i for i in imports_of(name) if i.startswith(above)]


def reachable(name: str) -> set[str]:
    """Every contactql module `name` loads, directly or through others."""
    seen, todo = set(), [name]
    while todo:
        for found in imports_of(todo.pop()):
            if found in MODULES and found not in seen:
                seen.add(found)
                todo.append(found)
    return seen


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _layer(n) in ("resolvers", "store")))
def test_not_even_through_another_module(name: str) -> None:
    """context.py is imported by both schema and resolvers: nothing a resolver loads, by any
    path, may load the schema."""
    above = ("contactql.schema",) if _layer(name) == "resolvers" else ("contactql.schema", "contactql.resolvers")
    assert not [m for m in reachable(name) if m.startswith(above)]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _layer(n) != "store"))
def test_only_the_store_speaks_sql(name: str) -> None:
    assert not [i for i in imports_of(name) if i.split(".")[0] in ("sqlalchemy", "sqlmodel", "alembic")]


def test_no_import_circles_but_the_graphs_own() -> None:
    """Strongly connected components of the import graph (Tarjan). The one allowed is GraphQL's
    own cycle, Contact.lists ↔ ContactList.contacts (see schema/contacts.py)."""
    graph = {name: {i for i in imports_of(name) if i in MODULES} for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = {stack.pop()}
            while v not in component:
                component.add(stack.pop())
            if len(component) > 1:
                circles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert circles == [["contactql.schema.contacts", "contactql.schema.lists"]]


def test_an_enum_loads_little() -> None:
    """Importing one GraphQL enum must not assemble the whole schema (it loaded 54 modules)."""
    code = "import sys, contactql.schema.enums; print(sum(m.startswith('contactql') for m in sys.modules))"
    loaded = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert loaded <= 8


def test_every_benchmark_imports() -> None:
    """Benchmarks are not run by CI: a module they import that moved must still fail here."""
    names = sorted(f"benchmarks.{path.stem}" for path in (ROOT.parent / "benchmarks").glob("*.py"))
    code = f"import importlib, sys; sys.path.insert(0, {str(ROOT.parent)!r}); [importlib.import_module(n) for n in {names!r}]"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT.parent)
    assert len(names) >= 8 and done.returncode == 0, done.stderr[-2000:]
