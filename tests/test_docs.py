"""The README and docs/ point only at what the repository holds: links, backticked paths and module names resolve."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README, *DOCS]

#: Top-level entries of a checkout that are made at run time, not committed: paths under them are not checked.
RUNTIME_ENTRIES = frozenset({".git", ".venv", "var", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
#: The files the README once pointed at outside the repository (beside the checkout, under ../shared/).
OUTSIDE_FILES = ("DESIGN.md", "CHANNELS.md")

FENCE = re.compile(r"^```.*?^```[ \t]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
PATH_LIKE = re.compile(r"(?:\./)?[\w.-]+(?:/[\w.*-]+)*/?")
MODULE_NAME = re.compile(r"(?:gateway|adapters|camera)(?:\.\w+)+")
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])((?:\.\./|[\w-]+/)*[\w-]+\.md)\b")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(path: Path) -> str:
    """The document without its fenced code blocks (commands and examples, which this test does not judge)."""
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def _named(path: Path) -> str:
    return str(path.relative_to(ROOT))


@cache
def _anchors(path: Path) -> frozenset[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(_prose(path)):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return frozenset(anchors)


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links whose file (or heading anchor) does not exist; web and mail links are not followed."""
    broken = []
    for target in LINK.findall(_prose(path)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        missing_file = not linked.exists() or not linked.is_relative_to(root)
        missing_anchor = not missing_file and bool(anchor) and linked.suffix == ".md" and anchor not in _anchors(linked)
        if missing_file or missing_anchor:
            broken.append(target)
    return broken


def repository_paths(path: Path, root: Path = ROOT) -> list[str]:
    """Backticked paths into the repository: their first part is a committed top-level entry.

    Paths that climb out of it (`../`) are `outside_references`' business.
    """
    top_level = {entry.name for entry in root.iterdir() if entry.name not in RUNTIME_ENTRIES}
    found = []
    for span in CODE_SPAN.findall(_prose(path)):
        if not PATH_LIKE.fullmatch(span) or "/" not in span:
            continue
        first = span.removeprefix("./").split("/", 1)[0]
        if first in top_level and not first.endswith(".egg-info"):
            found.append(span)
    return found


def missing_paths(path: Path, root: Path = ROOT) -> list[str]:
    missing = []
    for span in repository_paths(path, root):
        relative = span.removeprefix("./").rstrip("/")
        if not any(root.glob(relative)):
            missing.append(span)
    return missing


def _top_level_names(node: ast.stmt) -> list[str]:
    """The names one top-level statement binds: a class, a function, assignment targets or imports."""
    if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [target.id for target in node.targets if isinstance(target, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [alias.asname or alias.name for alias in node.names]
    return []


def _defines(module: Path, name: str) -> bool:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return any(name in _top_level_names(node) for node in tree.body)


def unknown_modules(path: Path, root: Path = ROOT) -> list[str]:
    """Backticked `package.module[.name]` spans that name no module of ours, nor a name one defines."""
    unknown = []
    for span in CODE_SPAN.findall(_prose(path)):
        if not MODULE_NAME.fullmatch(span):
            continue
        parts = span.split(".")
        as_module = root.joinpath(*parts)
        if as_module.with_suffix(".py").exists() or (as_module / "__init__.py").exists():
            continue
        parent = root.joinpath(*parts[:-1])
        module = parent.with_suffix(".py") if parent.with_suffix(".py").exists() else parent / "__init__.py"
        if not (module.exists() and _defines(module, parts[-1])):
            unknown.append(span)
    return unknown


def outside_references(path: Path, root: Path = ROOT) -> list[str]:
    """Links, paths and file names in the document that lead out of the repository."""
    text = _prose(path)
    leaving = [
        target
        for target in LINK.findall(text)
        if target.startswith("/") or not (path.parent / target.partition("#")[0]).resolve().is_relative_to(root)
    ]
    leaving += [span for span in CODE_SPAN.findall(text) if span.startswith("../")]
    for name in MARKDOWN_NAME.findall(text):
        resolved = (path.parent / name).resolve()
        if not resolved.is_relative_to(root) or not (resolved.exists() or (root / name).exists()):
            leaving.append(name)
    return sorted(set(leaving))


@pytest.mark.parametrize("path", DOCUMENTS, ids=_named)
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == [], f"{_named(path)} links to what does not exist"


@pytest.mark.parametrize("path", DOCUMENTS, ids=_named)
def test_backticked_repository_paths_exist(path: Path) -> None:
    assert missing_paths(path) == [], f"{_named(path)} names paths the repository does not have"


@pytest.mark.parametrize("path", DOCUMENTS, ids=_named)
def test_backticked_module_names_exist(path: Path) -> None:
    assert unknown_modules(path) == [], f"{_named(path)} names modules or names the code does not have"


@pytest.mark.parametrize("path", DOCS, ids=_named)
def test_docs_stay_inside_the_repository(path: Path) -> None:
    assert outside_references(path) == []


def test_readme_stays_inside_the_repository() -> None:
    assert outside_references(README) == []


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """Each check flags a sample of what it exists to catch, and passes the same references once they exist."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "gateway" / "domain").mkdir(parents=True)
    (tmp_path / "gateway" / "domain" / "machine.py").write_text("class Machine:\n    pass\n")
    (tmp_path / "adapters" / "wechat").mkdir(parents=True)
    (tmp_path / "adapters" / "wechat" / "client.py").write_text("")
    (tmp_path / "docs" / "other.md").write_text("# Other page\n")
    bad = tmp_path / "docs" / "bad.md"
    bad.write_text(
        "See [the design](../../shared/DESIGN.md), [nothing](missing.md), [no heading](#nowhere), and CHANNELS.md.\n"
        "Paths: `gateway/domain/machin.py`, `../shared/CHANNELS.md`, `adapters/*/server.py`, `var/runtime.db`.\n"
        "Names: `gateway.domain.machine.Engine`, `gateway.nowhere`.\n"
    )
    assert broken_links(bad, tmp_path) == ["../../shared/DESIGN.md", "missing.md", "#nowhere"]
    assert missing_paths(bad, tmp_path) == ["gateway/domain/machin.py", "adapters/*/server.py"]
    assert unknown_modules(bad, tmp_path) == ["gateway.domain.machine.Engine", "gateway.nowhere"]
    assert outside_references(bad, tmp_path) == [
        "../../shared/DESIGN.md",
        "../shared/CHANNELS.md",
        "CHANNELS.md",
        "missing.md",
    ]
    good = tmp_path / "docs" / "good.md"
    good.write_text(
        "# A heading\n\nSee [other.md](other.md#other-page), [above](#a-heading) and [the root](../gateway).\n"
        "Paths: `gateway/domain/machine.py`, `gateway/domain/`, `adapters/*/client.py`, `var/runtime.db`.\n"
        "Names: `gateway.domain.machine`, `gateway.domain.machine.Machine`.\n"
    )
    assert repository_paths(good, tmp_path) == ["gateway/domain/machine.py", "gateway/domain/", "adapters/*/client.py"]
    assert broken_links(good, tmp_path) == []
    assert missing_paths(good, tmp_path) == []
    assert unknown_modules(good, tmp_path) == []
    assert outside_references(good, tmp_path) == []


def errors_table(path: Path = README) -> dict[str, int]:
    """The codes of the README's errors table, each with the status of its row."""
    section = _prose(path).split("### Errors", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| (\d{3}) \| (.+) \|$", section, re.MULTILINE)
    return {code: int(status) for status, codes in rows for code in re.findall(r"`([a-z_]+)`", codes)}


def test_the_errors_table_lists_every_problem_code_under_its_status() -> None:
    from gateway.api.problems import PROBLEMS

    documented = {code: problem.status for code, problem in PROBLEMS.items()}
    listed = errors_table()
    assert {code: status for code, status in documented.items() if listed.get(code) != status} == {}
