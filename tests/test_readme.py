"""The README as written: its shell and Python blocks, run in order in a copy of the checkout, against the gateway
that its own `./dev serve` starts; every command must succeed and print what the README says it prints.

Conventions the README follows (and this test holds it to):
- a `sh` block is a sequence of commands, run by one bash, so variables carry from block to block;
- a line `# => TEXT` under a command is what the command prints: TEXT must appear in its output, `...` standing
  for anything;
- a `python` block is a whole program: it is saved and run with `.venv/bin/python` at that point of the sequence;
- a block that cannot run here (the test suite itself, benchmarks, Docker, a camera device) is preceded by
  `<!-- not run by tests: WHY -->`; the options such a block passes to our commands are still checked against
  their `--help`.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
SKIP_MARK = re.compile(r"<!-- not run by tests: (.+?) -->\s*$")
EXPECT_PREFIX = "# => "
#: Ports the README uses, replaced by free ones so that the run does not collide with anything on the machine.
README_PORTS = (8000, 9101)
#: Top-level entries not carried into the copy of the checkout (the copy starts without a var dir, like a clone).
NOT_COPIED = {".git", "var", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
RUN_TIMEOUT_S = 540

pytestmark = pytest.mark.slow


@dataclass
class Block:
    language: str
    text: str
    line: int
    skip_reason: str | None


@dataclass
class Step:
    command: str
    line: int
    expected: list[str] = field(default_factory=list)


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP_MARK.search(before)
        line = text.count("\n", 0, match.start()) + 2
        blocks.append(Block(match.group(1), match.group(2), line, skip.group(1) if skip else None))
    return blocks


def shell_steps(block: Block) -> list[Step]:
    """The block's commands (continuation lines joined), each with the output lines written under it."""
    steps: list[Step] = []
    pending = ""
    for offset, line in enumerate(block.text.splitlines()):
        if line.startswith(EXPECT_PREFIX):
            assert steps, f"README line {block.line + offset}: an expected output with no command above it"
            steps[-1].expected.append(line[len(EXPECT_PREFIX) :])
        elif pending:
            pending += "\n" + line
        elif line.strip() and not line.lstrip().startswith("#"):
            pending = line
            start = block.line + offset
        if pending and not pending.endswith("\\"):
            steps.append(Step(pending, start))
            pending = ""
    assert not pending, f"README line {block.line}: a command ends in a line continuation"
    return steps


def output_pattern(expected: str) -> re.Pattern[str]:
    return re.compile(".*?".join(re.escape(part) for part in expected.split("...")), re.DOTALL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def copy_of_checkout(target: Path) -> Path:
    """Symlinks to the checkout's files (the venv included), with no var dir: what a fresh clone sees."""
    target.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in NOT_COPIED:
            (target / entry.name).symlink_to(entry)
    return target


def test_every_block_runs_or_says_why_not() -> None:
    blocks = readme_blocks(README.read_text())
    runnable = [b for b in blocks if b.language in ("sh", "python") and b.skip_reason is None]
    assert len(runnable) >= 8, "the README's runnable examples went missing"
    for block in blocks:
        if block.skip_reason is not None:
            assert block.language in ("sh", "python"), f"README line {block.line}: only code blocks are skipped"
            assert len(block.skip_reason) > 10, f"README line {block.line}: say why the block is not run"
        assert block.language in ("sh", "python", "json", "text", ""), f"README line {block.line}: {block.language}"


def test_commands_not_run_take_the_options_the_readme_gives(tmp_path: Path) -> None:
    """Benchmarks and the like are too long for the suite: their flags must still exist."""
    blocks = [b for b in readme_blocks(README.read_text()) if b.skip_reason and b.language == "sh"]
    checked = 0
    for block in blocks:
        for step in shell_steps(block):
            words = shlex.split(step.command.replace("\\\n", " "), comments=True)
            program = _our_program(words)
            if program is None:
                continue
            flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", step.command))
            shown = subprocess.run(
                [*program, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
            )
            assert shown.returncode == 0, (step.command, shown.stderr)
            for flag in flags:
                assert re.search(rf"{re.escape(flag)}\b", shown.stdout), f"README line {step.line}: {flag} unknown"
            checked += 1
    assert checked >= 3


def _our_program(words: list[str]) -> list[str] | None:
    """The command line up to its options, when it is one of ours (a bench script, a console script)."""
    if len(words) >= 2 and words[0] == ".venv/bin/python" and words[1].startswith("bench/"):
        return [str(ROOT / ".venv/bin/python"), words[1]]
    if len(words) >= 3 and words[0] == ".venv/bin/python" and words[1] == "-m":
        return [str(ROOT / ".venv/bin/python"), "-m", words[2]]
    if words and words[0].startswith(".venv/bin/"):
        head = [str(ROOT / words[0])]
        for word in words[1:]:
            if word.startswith(("-", "[", "|", "mch_", "trm_", "cam_", "/")) or "..." in word or word.isupper():
                break
            head.append(word)
        return head
    return None


def test_the_readme_as_written(tmp_path: Path) -> None:
    stamp = ROOT / ".venv" / ".installed-test"
    if not stamp.exists() or (ROOT / "pyproject.toml").stat().st_mtime > stamp.stat().st_mtime:
        # `./dev serve` in the copy would reinstall the project into the shared venv from the copy's path.
        pytest.fail("the venv is older than pyproject.toml: run ./dev test, which installs and then runs this")
    checkout = copy_of_checkout(tmp_path / "checkout")
    steps_dir = tmp_path / "steps"
    steps_dir.mkdir()
    ports = {port: free_port() for port in README_PORTS}
    steps: list[Step] = []
    for block in readme_blocks(README.read_text()):
        if block.skip_reason is not None or block.language not in ("sh", "python"):
            continue
        text = _with_ports(block.text, ports)
        if block.language == "python":
            program = steps_dir / f"readme-line-{block.line}.py"
            program.write_text(text)
            steps.append(Step(f".venv/bin/python {program}", block.line, _python_expectations(text)))
        else:
            steps.extend(shell_steps(Block(block.language, text, block.line, None)))
    script = ["set -u", *(_wrapped(index, step, steps_dir) for index, step in enumerate(steps))]
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env["GATEWAY_PORT"] = str(ports[8000])
    shell = subprocess.Popen(
        ["bash", "-c", "\n".join(script)], cwd=checkout, env=env, start_new_session=True, text=True
    )
    try:
        shell.wait(timeout=RUN_TIMEOUT_S)
    finally:
        _stop_group(shell)
    failures = [failure for index, step in enumerate(steps) if (failure := _failure(index, step, steps_dir))]
    assert not failures, "\n\n".join(failures)


def _failure(index: int, step: Step, steps_dir: Path) -> str | None:
    """What went wrong with one step (it did not run, failed, or printed something else), or None."""
    rc_file = steps_dir / f"{index}.rc"
    if not rc_file.exists():
        return f"README line {step.line}: never ran (the run stopped before it)\n{step.command}"
    out = (steps_dir / f"{index}.out").read_text()
    err = (steps_dir / f"{index}.err").read_text()
    context = f"README line {step.line}:\n{step.command}\n--- stdout\n{out[-3000:]}\n--- stderr\n{err[-3000:]}"
    if rc_file.read_text().strip() != "0":
        return f"exit status {rc_file.read_text().strip()}\n{context}"
    missing = [expected for expected in step.expected if not output_pattern(expected).search(out + err)]
    return f"expected {missing}\n{context}" if missing else None


def _with_ports(text: str, ports: dict[int, int]) -> str:
    for readme_port, port in ports.items():
        text = re.sub(rf"(localhost|127\.0\.0\.1):{readme_port}\b", rf"\g<1>:{port}", text)
        text = re.sub(rf"--port {readme_port}\b", f"--port {port}", text)
    return text


def _python_expectations(text: str) -> list[str]:
    return [line.strip()[len(EXPECT_PREFIX) :] for line in text.splitlines() if line.strip().startswith("# => ")]


def _wrapped(index: int, step: Step, steps_dir: Path) -> str:
    """The step with its output and exit status kept apart; a newline before `}` so a trailing comment is safe."""
    base = steps_dir / str(index)
    return f'{{ {step.command}\n}} >"{base}.out" 2>"{base}.err" </dev/null; echo $? >"{base}.rc"'


def _stop_group(shell: subprocess.Popen[str]) -> None:
    """The README's background commands (the gateway) run in the shell's process group: end them all."""
    try:
        os.killpg(shell.pid, signal.SIGTERM)
        shell.wait(timeout=20)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()
