"""The layers import only what DESIGN.md section 2 allows (an allow-list), and only repositories hold SQL."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

#: module prefix -> the only prefixes of our own packages it may import (most specific prefix wins)
ALLOWED: dict[str, tuple[str, ...]] = {
    "gateway.domain": ("gateway.domain",),
    "gateway.persistence": ("gateway.persistence", "gateway.domain"),
    "gateway.realtime": ("gateway.realtime", "gateway.domain"),
    "gateway.services": (
        "gateway.services",
        "gateway.persistence",
        "gateway.realtime",
        "gateway.domain",
        "gateway.config",
        "adapters.protocol",
        "camera",  # frames streamed to the gateway are decoded in-process (camera never imports gateway)
    ),
    # observability (request ids, metrics, log format) is shared with the CLI that configures logging
    "gateway.api": ("gateway.api", "gateway.services", "gateway.domain", "gateway.observability"),
    "adapters.protocol": (),
    # reading bills by header names, shared by the three channels' parsers
    "adapters.billparse": ("adapters.protocol",),
    "adapters.simcore": ("adapters.simcore", "adapters.protocol"),
    "adapters.wechat": ("adapters.wechat", "adapters.protocol", "adapters.billparse", "adapters.simcore"),
    "adapters.alipay": ("adapters.alipay", "adapters.protocol", "adapters.billparse", "adapters.simcore"),
    "adapters.unionpay": ("adapters.unionpay", "adapters.protocol", "adapters.billparse", "adapters.simcore"),
    "camera": ("camera",),
}
OURS = ("gateway", "adapters", "camera")

#: Query constructs: in these layers only repositories (gateway.persistence) may build SQL.
NO_SQL_LAYERS = ("gateway.services", "gateway.api", "gateway.realtime")
SQL_FREE_SQLALCHEMY = ("sqlalchemy.exc",)  # errors may be caught where a unit of work is run


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _in(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


SOURCES = sorted(p for package in OURS for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    module = _module_name(path)
    imported = _imports(path)
    layers = [prefix for prefix in ALLOWED if _in(module, (prefix,))]
    if layers:
        allowed = ALLOWED[max(layers, key=len)]
        ours = [name for name in imported if _in(name, OURS) and not _in(name, (module,))]
        bad = sorted({name for name in ours if not _in(name, allowed)} - set(_parents_of_allowed(ours, allowed)))
        assert bad == [], f"{module} must not import {bad}"
    if _in(module, NO_SQL_LAYERS):
        sql = [name for name in imported if _in(name, ("sqlalchemy",)) and not _in(name, SQL_FREE_SQLALCHEMY)]
        sql = [name for name in sql if name != "sqlalchemy"]  # `from sqlalchemy.exc import X` also lists the module
        assert sql == [], f"{module} builds SQL ({sql}); queries belong in a gateway.persistence repository"


def _parents_of_allowed(names: list[str], allowed: tuple[str, ...]) -> list[str]:
    """`from gateway import persistence` lists `gateway`: a package whose imported child is allowed is fine."""
    return [name for name in names if any(other.startswith(name + ".") and _in(other, allowed) for other in names)]


def test_domain_imports_only_the_standard_library() -> None:
    for path in (ROOT / "gateway" / "domain").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("gateway.domain"), f"{path.name}: {name}"
