"""The package's layer order (CONTRIBUTING.md): a module imports only its own package and
lower layers, at module level or inside a function, and no modules import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ldm_teach"

#: Rank of each top-level module or subpackage: lower layers know nothing of higher ones.
LAYERS = {
    "argcheck": 0,
    "config": 0,
    "device": 0,
    "claims": 0,
    "data": 1,
    "nn": 1,
    "autoencoders": 2,
    "diffusion": 2,
    "text": 2,
    "models": 3,
    "training": 4,
    "pipelines": 4,
    "metrics": 5,
    "viz": 5,
    "interop": 5,
    "deploy": 5,
    "adapt": 5,
    "pretrained": 6,
    "grading": 7,
    "cli": 8,
    "__main__": 8,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every ldm_teach module ``path`` imports, anywhere in the file (``from P import m``
    counts as importing the submodule m when there is one)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ldm_teach"))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.startswith("ldm_teach")
        ):
            subs = [f"{node.module}.{a.name}" for a in node.names]
            submodules = [s for s in subs if s in MODULES]
            found.update(submodules)
            if len(submodules) < len(subs):
                found.add(node.module)
    return found


def _layer(module: str) -> tuple[str, int]:
    top = module.split(".")[1] if "." in module else ""
    return top, LAYERS.get(top, -1)


def test_every_module_has_a_layer():
    tops = {_layer(m)[0] for m in MODULES if m != "ldm_teach"}
    assert tops <= set(LAYERS), f"add {sorted(tops - set(LAYERS))} to LAYERS and CONTRIBUTING.md"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "ldm_teach"))
def test_no_module_imports_a_higher_or_sibling_layer(module):
    top, rank = _layer(module)
    bad = []
    for target in sorted(_imports(MODULES[module])):
        if target == "ldm_teach":
            bad.append(f"{target} (the package root: import the module itself)")
            continue
        other, other_rank = _layer(target)
        if other != top and other_rank >= rank:
            bad.append(f"{target} (layer {other_rank}, {module} is {rank})")
    assert not bad, f"{module} imports " + ", ".join(bad)


def test_no_import_cycles():
    graph = {m: {t for t in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    # a package's __init__ re-exports its modules; a module importing a sibling through the
    # package is reported as a cycle through __init__
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _user_code() -> list[tuple[str, str]]:
    """(where, source) of every benchmark script and notebook code cell."""
    import json

    root = PACKAGE.parent
    code = [
        (str(p.relative_to(root)), p.read_text(encoding="utf-8"))
        for p in sorted((root / "benchmarks").glob("*.py"))
    ]
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code += [
            (f"{nb.name} cell {i}", "".join(c["source"]))
            for i, c in enumerate(cells)
            if c["cell_type"] == "code"
        ]
    return code


def test_benchmarks_and_notebooks_use_the_public_api_only():
    bad = []
    for where, source in _user_code():
        try:
            tree = ast.parse(source)
        except SyntaxError:  # IPython magics; notebooks are executed by their own tests
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ldm_teach"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or node.module == "ldm_teach.cli":
                    bad.append(
                        f"{where}: from {node.module} import "
                        + ", ".join(private or [a.name for a in node.names])
                    )
    assert not bad, "private or CLI imports: " + "; ".join(bad)


def test_notebook_links_point_at_files_and_glossary_anchors_that_exist():
    import json
    import re

    root = PACKAGE.parent / "notebooks"
    home = (root / "00_course_home.ipynb").read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id=\\?"([\w-]+)\\?"></a>', home))
    assert {"glossary", "glossary-cfg", "glossary-ddpm-ddim"} <= anchors
    for nb in sorted(root.glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        for target in re.findall(r"\]\(([^)#\s]+\.ipynb)(?:#([\w-]+))?\)", text):
            path, anchor = target
            assert (root / path).resolve().is_file(), f"{nb.name} links to missing {path}"
            if anchor and path.endswith("00_course_home.ipynb"):
                assert anchor in anchors, f"{nb.name} links to a missing glossary entry {anchor}"
        if nb.name != "00_course_home.ipynb":
            last = "".join(cells[-1]["source"])
            assert "**Next:**" in last and "00_course_home.ipynb" in last, nb.name
