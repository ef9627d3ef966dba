"""The packages depend one way, cos -> forms -> pipeline -> emails; pipeline/core is pure.

Read from the source with ast, so an import hidden inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What each package may not import (by top-level name, or by dotted prefix).
FORBIDDEN = {
    "emails": ("cos", "forms", "pipeline", "sqlalchemy", "sqlmodel", "redis", "rq", "flask",
               "werkzeug"),
    "pipeline": ("cos", "forms", "flask", "werkzeug", "wtforms", "click", "requests", "lxml"),
    "pipeline/core": ("cos", "forms", "emails", "pipeline", "sqlalchemy", "sqlmodel", "redis",
                      "rq", "flask",
                      "werkzeug", "alembic", "smtplib", "socket", "requests", "urllib",
                      "subprocess", "http"),
    "forms": ("cos",),
}
# Exceptions to the rules above: the core may import itself; webhooks deliver over HTTP (the
# domain's other transport, beside mail), and nothing else in pipeline is a web client.
ALLOWED = {"pipeline/core": ("pipeline.core",), "pipeline/webhooks.py": ("requests",)}


def imports_of(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """Return (line, module) for every import in a file, relative ones resolved."""
    if package is None:
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.append((node.lineno, base))
    return found


def breaks(module: str, rule: str) -> bool:
    """Say whether an imported module name falls under one forbidden name."""
    return module == rule or module.startswith(rule + ".")


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_each_package_imports_only_what_lies_below_it(folder):
    problems = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations" not in path.parts
        for line, module in imports_of(path)
        for rule in FORBIDDEN[folder]
        if breaks(module, rule)
        and not any(breaks(module, ok) for ok in (*ALLOWED.get(folder, ()),
                                                  *ALLOWED.get(f"{path.relative_to(ROOT)}", ())))
    ]
    assert problems == [], "imports against the direction cos -> forms -> pipeline -> emails"


def test_the_rule_catches_imports_hidden_in_functions_and_relative_ones(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from pipeline.db import get_engine\n    return get_engine\n"
                     "from ..models import Round\n")
    found = imports_of(probe, package="pipeline.core")
    assert sorted(found) == [(2, "pipeline.db"), (4, "pipeline.models")]
    assert all(any(breaks(m, r) for r in FORBIDDEN["pipeline/core"]) for _, m in found)
