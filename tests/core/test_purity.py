"""pipeline/core stays pure: no database, queue, web, network or mail import, nothing from the
rest of pipeline. The test reads the source, so it also covers modules nobody imports yet."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pipeline.core

CORE = Path(pipeline.core.__file__).parent
FORBIDDEN = (
    "sqlalchemy",
    "sqlmodel",
    "redis",
    "rq",
    "flask",
    "werkzeug",
    "requests",
    "smtplib",
    "socket",
)


def imports(path: Path) -> list[tuple[int, str]]:
    """Return (line, module) for every import in a file, relative ones made absolute."""
    package = "pipeline.core"
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def problem(module: str) -> str | None:
    """Say why an import is not allowed in pipeline/core, or None when it is fine."""
    top = module.split(".")[0]
    if top in FORBIDDEN:
        return f"{top} is I/O and belongs outside pipeline/core"
    if top == "pipeline" and not (module == "pipeline.core" or module.startswith("pipeline.core.")):
        return "pipeline/core may import only from pipeline.core"
    return None


MODULES = sorted(CORE.rglob("*.py"))


def test_pipeline_core_has_modules_to_check() -> None:
    assert MODULES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CORE)))
def test_a_core_module_imports_nothing_impure(path: Path) -> None:
    bad = [
        f"{path.relative_to(CORE.parent.parent)}:{line} imports {module}: {why}"
        for line, module in imports(path)
        if (why := problem(module))
    ]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("sqlmodel", False),
        ("redis.client", False),
        ("rq", False),
        ("flask", False),
        ("socket", False),
        ("pipeline.models", False),
        ("pipeline", False),
        ("pipeline.core.vocab", True),
        ("pipeline.coreutils", False),
        ("datetime", True),
        ("rqlite", True),
    ],
)
def test_the_purity_rule_tells_allowed_from_forbidden_imports(module: str, allowed: bool) -> None:
    assert (problem(module) is None) is allowed


def test_the_failure_names_the_file_and_the_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom sqlalchemy import select\nfrom ..models import Person\n")
    assert imports(bad) == [(1, "os"), (2, "sqlalchemy"), (3, "pipeline.models")]
