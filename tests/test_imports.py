"""The package's imports run one way: no cycles, Ray only in the sweep layer."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "gradsweep"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module name an import statement in `path` names, function-level ones too."""
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    )
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {n for n in imports_of(path) if n in files and n not in (name, "gradsweep")}
        for name, path in files.items()
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None (depth-first search)."""
    done: set[str] = set()

    def visit(node: str, stack: list[str]) -> list[str] | None:
        if node in stack:
            return [*stack[stack.index(node) :], node]
        if node in done:
            return None
        for target in sorted(edges[node]):
            cycle = visit(target, [*stack, node])
            if cycle:
                return cycle
        done.add(node)
        return None

    return next((c for c in (visit(n, []) for n in sorted(edges)) if c), None)


def test_no_import_cycle_in_the_package():
    edges = graph()
    assert len(edges) > 15  # the walk saw the package
    assert find_cycle(edges) is None


def test_the_walk_finds_a_planted_cycle(tmp_path, monkeypatch):
    (tmp_path / "gradsweep").mkdir()
    (tmp_path / "gradsweep" / "__init__.py").write_text("")
    (tmp_path / "gradsweep" / "a.py").write_text("from gradsweep import b\n")
    (tmp_path / "gradsweep" / "b.py").write_text("def f():\n    from gradsweep.a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "gradsweep")
    assert find_cycle(graph()) == ["gradsweep.a", "gradsweep.b", "gradsweep.a"]


def test_ray_is_imported_only_under_the_sweep_package():
    for path in PACKAGE.rglob("*.py"):
        if "sweep" in path.relative_to(PACKAGE).parts[:1]:
            continue
        ray = {n for n in imports_of(path) if n == "ray" or n.startswith("ray.")}
        assert not ray, f"{path} imports {ray}"


def test_importing_the_package_imports_neither_tensorflow_nor_ray_nor_pyplot():
    code = (
        "import sys, gradsweep, gradsweep.report, gradsweep.cli; "
        "print(sorted(m for m in ('tensorflow', 'ray', 'matplotlib.pyplot') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
