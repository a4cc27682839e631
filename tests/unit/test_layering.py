"""The product's imports form layers without cycles.

Every import of every product module counts, read with ``ast``: module level, inside
``if TYPE_CHECKING:`` and inside functions. The rules:

- no cycle between modules;
- nothing below the command line imports ``spotidoctor.commands`` or ``spotidoctor.cli``;
- nothing in ``spotidoctor`` imports the bundled checks (``spotidoctor.checks``): they are
  plugins, found by the registry, like entry-point and drop-in checks;
- every module belongs to one of the ``LAYERS`` and imports only from its own layer or the
  ones before it (a new package must be given its place here).

The same analysis runs on small packages planted in ``tmp_path``, so the suite shows it
finds a cycle and an upward import when there is one.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PRODUCT = {"spotidoctor": REPO / "spotidoctor", "spotidoctor.checks": REPO / "checks"}
CLI_LAYER = ("spotidoctor.cli", "spotidoctor.__main__", "spotidoctor.commands", "spotidoctor.docgen")
CHECKS = "spotidoctor.checks"
# Bottom to top; a module's layer is that of its longest listed prefix.
LAYERS = (
    ("leaves", ("spotidoctor", "spotidoctor.types", "spotidoctor.errors", "spotidoctor.exitcodes",
                "spotidoctor.paths", "spotidoctor.layout", "spotidoctor.memo", "spotidoctor.units",
                "spotidoctor.bundle.spec", "spotidoctor.privatefs", "spotidoctor.suggest")),
    ("probes", ("spotidoctor.probes",)),
    ("core", ("spotidoctor.model", "spotidoctor.fixes", "spotidoctor.config", "spotidoctor.facts",
              "spotidoctor.resultcache", "spotidoctor.backups", "spotidoctor.lock", "spotidoctor.api",
              "spotidoctor.error_handler")),
    ("libraries", ("spotidoctor.podman", "spotidoctor.crash", "spotidoctor.render", "spotidoctor.backend",
                   "spotidoctor.channels", "spotidoctor.hardening", "spotidoctor.testing",
                   "spotidoctor.daily")),
    ("engine and reports", ("spotidoctor.engine", "spotidoctor.bundle", "spotidoctor.launcher")),
    ("command line", ("spotidoctor.cli", "spotidoctor.__main__", "spotidoctor.commands", "spotidoctor.docgen")),
    ("bundled checks", ("spotidoctor.checks",)),
)


@dataclass(frozen=True)
class Graph:
    modules: dict[str, Path]
    edges: dict[str, set[str]]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def module_names(roots: dict[str, Path]) -> dict[str, Path]:
    """Dotted name -> file, for every .py below each root (a root maps a package name to a
    directory, the way setuptools' package-dir does)."""
    found: dict[str, Path] = {}
    for package, directory in roots.items():
        for path in sorted(directory.rglob("*.py")):
            parts = path.relative_to(directory).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The module an import of ``name`` loads: the longest known prefix."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _base(module: str, path: Path, level: int) -> str:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The product modules ``module`` imports, anywhere in its file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(t for alias in node.names if (t := _target(alias.name, modules)))
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                source = ".".join(p for p in (_base(module, path, node.level), source) if p)
            for alias in node.names:  # `from package import submodule` loads the submodule
                submodule = f"{source}.{alias.name}"
                target = submodule if submodule in modules else _target(source, modules)
                if target:
                    found.add(target)
    found.discard(module)
    return found


def build_graph(roots: dict[str, Path]) -> Graph:
    modules = module_names(roots)
    return Graph(modules, {name: imports_of(name, path, modules) for name, path in modules.items()})


def cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph.edges):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            step = next(targets, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.edges.get(step, ())))))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def upward_imports(graph: Graph, top: tuple[str, ...]) -> list[tuple[str, str]]:
    """(importer, imported) where a module outside ``top`` imports one of ``top``."""
    return sorted((name, target) for name, targets in graph.edges.items() for target in targets
                  if not any(_within(name, t) for t in top) and any(_within(target, t) for t in top))


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...]) -> int | None:
    """The index of the layer whose longest prefix matches ``module``; None: in no layer."""
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(layers) for prefix in prefixes
               if _within(module, prefix)]
    return max(matches)[1] if matches else None


def layer_violations(graph: Graph, layers: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
    """Modules in no layer, and imports of a higher layer."""
    found = [f"{name} is in no layer" for name in graph.modules if layer_of(name, layers) is None]
    for name, targets in graph.edges.items():
        own = layer_of(name, layers)
        for target in targets:
            above = layer_of(target, layers)
            if own is not None and above is not None and above > own:
                found.append(f"{name} ({layers[own][0]}) imports {target} ({layers[above][0]})")
    return sorted(found)


def imports_of_plugins(graph: Graph, plugins: str) -> list[tuple[str, str]]:
    """(importer, imported) where a module outside ``plugins`` imports one inside."""
    return sorted((name, target) for name, targets in graph.edges.items() for target in targets
                  if not _within(name, plugins) and _within(target, plugins))


# -- the product ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def product() -> Graph:
    return build_graph(PRODUCT)


def test_the_analysis_sees_the_whole_product(product: Graph) -> None:
    assert {"spotidoctor.api", "spotidoctor.engine.runner", "spotidoctor.commands.check",
            "spotidoctor.checks.x11.display", "spotidoctor.crash.verdict"} <= product.modules.keys()
    assert "spotidoctor.fixes" in product.edges["spotidoctor.model"]  # a plain import is an edge


def test_the_product_has_no_import_cycle(product: Graph) -> None:
    assert cycles(product) == []


def test_nothing_below_the_command_line_imports_it(product: Graph) -> None:
    assert upward_imports(product, CLI_LAYER) == []


def test_nothing_in_spotidoctor_imports_the_bundled_checks(product: Graph) -> None:
    assert imports_of_plugins(product, CHECKS) == []


def test_every_module_imports_only_its_own_layer_or_lower_ones(product: Graph) -> None:
    assert layer_violations(product, LAYERS) == []


# -- the same analysis on planted packages -----------------------------------------------------

def plant(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = root / "fake" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return {"fake": root / "fake"}


BASE = {"__init__.py": "", "commands/__init__.py": "", "commands/run.py": "import fake.low\n",
        "low.py": "import os\n", "mid.py": "from fake import low\n"}


def test_a_clean_planted_package_passes(tmp_path: Path) -> None:
    graph = build_graph(plant(tmp_path, BASE))
    assert graph.edges["fake.commands.run"] == {"fake.low"} and graph.edges["fake.mid"] == {"fake.low"}
    assert cycles(graph) == [] and upward_imports(graph, ("fake.commands",)) == []


def test_a_planted_cycle_through_type_checking_is_found(tmp_path: Path) -> None:
    graph = build_graph(plant(tmp_path, {**BASE, "low.py": """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from fake.mid import thing
        """}))
    assert cycles(graph) == [["fake.low", "fake.mid"]]


def test_a_planted_cycle_through_a_function_local_relative_import_is_found(tmp_path: Path) -> None:
    graph = build_graph(plant(tmp_path, {**BASE, "sub/__init__.py": "", "sub/a.py": "from . import b\n",
                                         "sub/b.py": "def later():\n    from .a import x\n"}))
    assert cycles(graph) == [["fake.sub.a", "fake.sub.b"]]


def test_a_planted_upward_import_is_found(tmp_path: Path) -> None:
    graph = build_graph(plant(tmp_path, {**BASE, "low.py": "def report():\n    from fake.commands import run\n"}))
    assert upward_imports(graph, ("fake.commands",)) == [("fake.low", "fake.commands.run")]
    assert cycles(graph) == [["fake.commands.run", "fake.low"]]


def test_a_planted_layer_violation_and_an_unplaced_module_are_found(tmp_path: Path) -> None:
    graph = build_graph(plant(tmp_path, {**BASE, "low.py": "from fake import mid\n", "new.py": ""}))
    layers = (("base", ("fake.low",)), ("middle", ("fake.mid",)), ("top", ("fake.commands",)))
    assert layer_violations(graph, layers) == ["fake is in no layer", "fake.low (base) imports fake.mid (middle)",
                                               "fake.new is in no layer"]


def test_a_planted_import_of_the_plugins_is_found(tmp_path: Path) -> None:
    graph = build_graph(plant(tmp_path, {**BASE, "plugins/__init__.py": "", "plugins/one.py": "import fake.low\n",
                                         "mid.py": "from fake.plugins.one import CHECKS\n"}))
    assert imports_of_plugins(graph, "fake.plugins") == [("fake.mid", "fake.plugins.one")]
