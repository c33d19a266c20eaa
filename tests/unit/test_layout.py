"""The package layout holds: core imports no stage, stages import each other only in pipeline
order (so there is no cycle between them), and no module hides an import of journeylake inside
a function."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "lib" / "journeylake"
# What each part may import from journeylake, besides itself.
ALLOWED = {
    "core": set(),
    "graphs": {"core"},
    "generator": {"core"},
    "bronze": {"core"},
    "quality": {"core"},
    "silver": {"core", "bronze", "graphs", "quality"},
    "gold": {"core", "silver", "graphs", "quality"},
    "models": {"core", "silver", "gold", "graphs", "quality"},
    "kpis": {"core", "silver", "gold", "models", "quality"},
    "streaming": {"core", "bronze", "silver", "kpis", "generator"},
    "dashboard": {"core", "gold", "models", "kpis", "quality"},
    "explore": {"core"},
    "privacy": {"core", "silver"},
}


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported journeylake module, whether the import is at module level)."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found += [(name, id(node) in top_level) for name in names
                  if name.split(".")[0] == "journeylake"]
    return found


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_each_stage_imports_only_the_stages_before_it() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        owner = path.relative_to(PACKAGE).parts[0]
        if owner not in ALLOWED:
            continue  # cli.py, pipeline.py: the entry points may import every stage
        for module, _ in _imports(path):
            used = _part(module)
            if used and used != owner and used not in ALLOWED[owner]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not wrong, wrong


def test_no_module_imports_journeylake_inside_a_function() -> None:
    # A local import is how a cycle hides; the layout above must make none necessary.
    hidden = [f"{path.relative_to(PACKAGE)}: {module}"
              for path in sorted(PACKAGE.rglob("*.py"))
              for module, top_level in _imports(path) if not top_level]
    assert not hidden, hidden
