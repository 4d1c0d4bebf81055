"""The layers import only in the directions DESIGN.md section 2 allows."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

#: module prefix -> prefixes of our own packages it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "gateway.domain": ("gateway.services", "gateway.persistence", "gateway.api", "gateway.realtime", "gateway.app"),
    "gateway.persistence": ("gateway.services", "gateway.api", "gateway.realtime", "gateway.app", "adapters", "camera"),
    "gateway.services": ("gateway.api", "gateway.app", "camera"),
    "gateway.realtime": ("gateway.api", "gateway.services", "gateway.app", "camera"),
    "gateway.api": ("gateway.persistence.db", "gateway.app", "adapters.wechat", "adapters.alipay", "adapters.unionpay"),
    "adapters.protocol": ("gateway", "adapters.", "camera"),
    "adapters.simcore": ("gateway", "camera", "adapters.wechat", "adapters.alipay", "adapters.unionpay"),
    "adapters.wechat": ("gateway", "camera", "adapters.alipay", "adapters.unionpay"),
    "adapters.alipay": ("gateway", "camera", "adapters.wechat", "adapters.unionpay"),
    "adapters.unionpay": ("gateway", "camera", "adapters.wechat", "adapters.alipay"),
    "camera": ("gateway", "adapters"),
}

#: Only the wiring modules may import the concrete channel packages.
CONCRETE_CHANNELS = ("adapters.wechat", "adapters.alipay", "adapters.unionpay")
WIRING = ("gateway.app", "gateway.runtime", "adapters.registry", "adapters.simulators")


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
            names.append(node.module)
    return names


SOURCES = sorted(p for package in ("gateway", "adapters", "camera") for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path: Path) -> None:
    module = _module_name(path)
    imported = _imports(path)
    for prefix, forbidden in FORBIDDEN.items():
        if module == prefix or module.startswith(prefix + "."):
            bad = [name for name in imported if name.startswith(forbidden)]
            assert bad == [], f"{module} must not import {bad}"
    if module.startswith("gateway.") and not module.startswith(WIRING):
        bad = [name for name in imported if name.startswith(CONCRETE_CHANNELS)]
        assert bad == [], f"{module} must reach channels through adapters.protocol, not {bad}"


def test_domain_imports_only_the_standard_library() -> None:
    for path in (ROOT / "gateway" / "domain").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or name.startswith("gateway.domain"), f"{path.name}: {name}"
