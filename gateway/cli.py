"""The `gateway` command: serve, export the OpenAPI spec, migrate, back up, and administer merchants and their
things (create, list, disable, enable, rotate and revoke keys; operators' passwords).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tqdm import tqdm

from gateway.config import Settings
from gateway.domain.channels import Channel
from gateway.domain.errors import DomainError
from gateway.runtime import ConfigurationError, Runtime
from gateway.services.operators import OPERATOR_ROLES
from gateway.services.reconciliations import reconciliation_view

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gateway.services.credentials import RotatedKey

OPENAPI_PATH = Path("openapi/openapi.json")


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        raise SystemExit(2)
    try:
        args.run(args)
    except (DomainError, ConfigurationError) as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the gateway (settings come from GATEWAY_* variables)")
    serve.add_argument("--host", help="listen address (GATEWAY_HOST)")
    serve.add_argument("--port", type=int, help="listen port (GATEWAY_PORT)")
    serve.add_argument("--dev", action="store_true", help="dev mode: demo merchant, in-process simulators")
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes on one port, each a whole gateway (its own LISTEN connection and job worker); "
        "more than 1 needs PostgreSQL",
    )
    serve.set_defaults(run=_serve)

    openapi = commands.add_parser("openapi", help=f"write the OpenAPI spec to {OPENAPI_PATH}")
    openapi.add_argument("--output", type=Path, default=OPENAPI_PATH)
    openapi.set_defaults(run=_openapi)

    db = commands.add_parser("db", help="database").add_subparsers(title="db commands")
    db.add_parser("upgrade", help="apply every migration").set_defaults(run=_db_upgrade)
    db_backup = db.add_parser("backup", help="copy the SQLite database to PATH, consistently, while the gateway runs")
    db_backup.add_argument("path", type=Path)
    db_backup.set_defaults(run=_db_backup)
    db_restore = db.add_parser("restore", help="put a backup in place of the SQLite database (gateway stopped)")
    db_restore.add_argument("path", type=Path)
    db_restore.set_defaults(run=_db_restore)

    reconcile = commands.add_parser(
        "reconcile", help="match each channel's bill of past Beijing days against our payments and refunds"
    )
    reconcile.add_argument("--date", required=True, type=_day, help="the first Beijing business day, YYYY-MM-DD")
    reconcile.add_argument("--to", type=_day, help="the last day (default: --date); at most 31 days")
    reconcile.add_argument("--channel", type=Channel, choices=list(Channel), help="one channel (default: all)")
    reconcile.set_defaults(run=_reconcile)

    _kind_commands(commands, MERCHANTS, _add_create_merchant)

    stores = commands.add_parser("stores", help="stores").add_subparsers(title="store commands")
    create_store = stores.add_parser("create", help="create a store of a merchant")
    create_store.add_argument("--merchant", required=True)
    create_store.add_argument("--name", required=True)
    create_store.set_defaults(run=_create_store)

    _kind_commands(commands, TERMINALS, _add_create_terminal)
    _kind_commands(commands, CAMERAS, _add_create_camera)

    _operator_commands(commands)
    return parser


def _operator_commands(commands: Any) -> None:
    """`gateway operators create|list|disable|enable|reset-password`."""
    operators = commands.add_parser(
        "operators",
        help="operators: create, list, disable, enable, reset-password",
        description="Cashiers and supervisors who sign in on a merchant's terminals. Wrong passwords in a row "
        "(GATEWAY_OPERATOR_MAX_FAILED_SIGN_INS, 5) lock an operator for GATEWAY_OPERATOR_LOCKOUT_S (900 s); "
        "reset-password unlocks. A disabled operator is signed out and refused (403 operator_disabled).",
    ).add_subparsers(title="operator commands")
    create_operator = operators.add_parser("create", help="create a cashier or supervisor")
    create_operator.add_argument("--merchant", required=True)
    create_operator.add_argument("--number", required=True)
    create_operator.add_argument("--name", required=True)
    create_operator.add_argument("--role", choices=OPERATOR_ROLES, default="cashier")
    create_operator.add_argument("--password", help="prompted for when left out")
    create_operator.set_defaults(run=_create_operator)

    listing = operators.add_parser("list", help="list operators with their state (never a password), as JSON")
    listing.add_argument("--merchant", metavar="MERCHANT_ID", help="only this merchant's")
    listing.set_defaults(run=_list_operators)
    for verb, disabled, text in (
        ("disable", True, "sign the operator out of every terminal and refuse it (403 operator_disabled)"),
        ("enable", False, "let a disabled operator sign in again"),
    ):
        toggle = operators.add_parser(verb, help=text)
        toggle.add_argument("operator_id", metavar="OPERATOR_ID")
        toggle.set_defaults(run=_set_operator_disabled, disabled=disabled)
    reset = operators.add_parser("reset-password", help="give the operator a new password; also unlocks it")
    reset.add_argument("operator_id", metavar="OPERATOR_ID")
    reset.add_argument("--password", help="prompted for when left out")
    reset.set_defaults(run=_reset_operator_password)


def _add_create_merchant(merchants: Any) -> None:
    create = merchants.add_parser("create", help="create a merchant and print its API key once")
    create.add_argument("--name", required=True)
    create.add_argument("--require-operator", action="store_true", help="payments need a signed-in operator")
    create.add_argument(
        "--refund-requires-supervisor",
        action="store_true",
        help="terminal refunds need a supervisor's number and password",
    )
    create.set_defaults(run=_create_merchant)
    change = merchants.add_parser("set", help="change a merchant's rules")
    change.add_argument("merchant_id", metavar="MERCHANT_ID")
    change.add_argument(
        "--refund-requires-supervisor",
        required=True,
        choices=("true", "false"),
        help="whether terminal refunds need a supervisor's number and password",
    )
    change.set_defaults(run=_set_merchant)
    fees = merchants.add_parser("fees", help="show a merchant's fee rate on each channel, or set some")
    fees.add_argument("merchant_id", metavar="MERCHANT_ID")
    fees.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="CHANNEL=BP",
        type=_fee_rate_argument,
        help="the merchant's own rate on a channel in basis points, e.g. wechat=38 (0.38 %%); repeatable",
    )
    fees.set_defaults(run=_merchant_fees)


def _add_create_terminal(terminals: Any) -> None:
    create = terminals.add_parser("create", help="register a terminal and print its key once")
    create.add_argument("--merchant", required=True)
    create.add_argument("--store", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--single-limit-fen", type=int, help="largest single payment")
    create.add_argument("--daily-limit-fen", type=int, help="largest total per day")
    create.set_defaults(run=_create_terminal)


def _add_create_camera(cameras: Any) -> None:
    create = cameras.add_parser("create", help="bind a camera to a terminal and print its key once")
    create.add_argument("--terminal", required=True)
    create.add_argument("--name", default="", help="e.g. where it points")
    create.set_defaults(run=_create_camera)


class _KeyedThings(Protocol):
    """What the CLI asks of the merchant, terminal and camera services alike."""

    async def set_disabled(self, thing_id: str, disabled: bool, /) -> datetime | None: ...
    async def rotate_key(self, thing_id: str, /) -> RotatedKey: ...
    async def revoke_key(self, thing_id: str, key_id: str, /) -> None: ...


@dataclass(frozen=True)
class _Kind:
    """One kind of thing with its own key, as the CLI administers it."""

    noun: str  # "merchant"
    key_name: str  # what its key is called
    key_example: str  # how a key id looks
    secret_field: str  # the field `create` prints its secret in
    service: Callable[[Runtime], _KeyedThings]
    list_filter: tuple[str, str] | None  # (option, what it names) narrowing `list`, if any
    summaries: Callable[[Runtime, str | None], Awaitable[Sequence[Any]]]

    @property
    def plural(self) -> str:
        return f"{self.noun}s"

    @property
    def id_field(self) -> str:
        return f"{self.noun}_id"


MERCHANTS = _Kind(
    "merchant",
    "API key",
    "mk_<prefix>",
    "api_key",
    lambda runtime: runtime.merchants,
    None,
    lambda runtime, _filter: runtime.merchants.list_merchants(),
)
TERMINALS = _Kind(
    "terminal",
    "signing key",
    "tk_...",
    "secret",
    lambda runtime: runtime.terminals,
    ("--merchant", "merchant"),
    lambda runtime, merchant_id: runtime.terminals.list_terminals(merchant_id),
)
CAMERAS = _Kind(
    "camera",
    "camera key",
    "ck_<prefix>",
    "key",
    lambda runtime: runtime.cameras,
    ("--terminal", "terminal"),
    lambda runtime, terminal_id: runtime.cameras.list_cameras(terminal_id),
)


def _kind_commands(commands: Any, kind: _Kind, add_create: Callable[[Any], None]) -> None:
    """`gateway <kinds> create|list|disable|enable|rotate-key|revoke-key`; `add_create` adds `create`."""
    parser = commands.add_parser(
        kind.plural,
        help=f"{kind.plural}: create, list, disable, enable, rotate-key, revoke-key",
        description=f"A {kind.noun}'s key rotation: `rotate-key` prints a new {kind.key_name} once, and the old "
        f"one keeps working (two valid keys) until `revoke-key` revokes it. A disabled {kind.noun} is refused "
        f"(403 {kind.noun}_disabled) until it is enabled again.",
    )
    group = parser.add_subparsers(title=f"{kind.noun} commands")
    add_create(group)
    id_metavar = f"{kind.noun.upper()}_ID"

    listing = group.add_parser(
        "list", help=f"list {kind.plural} with their state and key ids (never a secret), as JSON"
    )
    if kind.list_filter is not None:
        option, owner = kind.list_filter
        listing.add_argument(option, dest="list_filter", metavar=f"{owner.upper()}_ID", help=f"only this {owner}'s")
    listing.set_defaults(run=_list_things, kind=kind)

    for verb, disabled, text in (
        ("disable", True, f"refuse the {kind.noun} at authentication (403 {kind.noun}_disabled)"),
        ("enable", False, f"let a disabled {kind.noun} in again"),
    ):
        toggle = group.add_parser(verb, help=text)
        toggle.add_argument("thing_id", metavar=id_metavar)
        toggle.set_defaults(run=_set_disabled, kind=kind, disabled=disabled)

    rotate = group.add_parser(
        "rotate-key",
        help=f"issue a new {kind.key_name} and print it once; the old one works until revoke-key",
    )
    rotate.add_argument("thing_id", metavar=id_metavar)
    rotate.set_defaults(run=_rotate_key, kind=kind)

    revoke = group.add_parser(
        "revoke-key",
        help=f"revoke one of the two {kind.key_name}s of a rotation (usually the old one); the other stays",
    )
    revoke.add_argument("thing_id", metavar=id_metavar)
    revoke.add_argument("key_id", metavar="KEY_ID", help=f"as `list` shows it: {kind.key_example}")
    revoke.set_defaults(run=_revoke_key, kind=kind)


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from gateway.app import SERVER_OPTIONS, create_app
    from gateway.observability import configure_logging

    overrides: dict[str, Any] = {key: value for key in ("host", "port") if (value := getattr(args, key)) is not None}
    if args.dev:
        overrides["dev_mode"] = True
    settings = Settings(**overrides)
    if args.workers > 1 and settings.is_sqlite:
        raise ConfigurationError(
            f"--workers {args.workers} needs PostgreSQL (GATEWAY_DATABASE_URL=postgresql+asyncpg://...): "
            "SQLite is a single-process store, so serve it with one worker"
        )
    configure_logging(settings.log_level, settings.log_json)
    if args.workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **SERVER_OPTIONS)
        return
    # Migrations and the demo seed run once here, as one instance starting and stopping, so that the workers
    # do not race each other to create tables or a second demo merchant.
    asyncio.run(_start_and_stop(create_app(settings)))
    # Each worker is a new process that builds its own app from the environment: pass the overrides on.
    os.environ.update({f"GATEWAY_{key.upper()}": _env_value(value) for key, value in overrides.items()})
    uvicorn.run(
        f"{__name__}:worker_app",
        factory=True,
        workers=args.workers,
        host=settings.host,
        port=settings.port,
        **SERVER_OPTIONS,
    )


def worker_app() -> FastAPI:
    """The app of one `serve --workers N` process: settings from the environment, like the parent's."""
    from gateway.app import create_app
    from gateway.observability import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)


async def _start_and_stop(app: FastAPI) -> None:
    async with app.router.lifespan_context(app):
        pass


def _env_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _openapi(args: argparse.Namespace) -> None:
    from gateway.openapi_export import render_openapi

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render_openapi())
    print(f"wrote {args.output}")


def _db_upgrade(_args: argparse.Namespace) -> None:
    from gateway.persistence.migrate import upgrade

    async def run(runtime: Runtime) -> None:
        await upgrade(runtime.db)
        print("database is at the latest revision")

    _with_runtime(run, migrate=False)


def _db_backup(args: argparse.Namespace) -> None:
    from gateway.persistence.backup import backup

    def report(copied: int, total: int) -> None:
        print(f"backup: {copied}/{total} pages", file=sys.stderr)

    with _backup_errors():
        summary = backup(Settings().effective_database_url, args.path, report)
    print(f"backed up {summary.database} to {summary.copy} ({summary.pages} pages, schema {summary.revision})")


def _db_restore(args: argparse.Namespace) -> None:
    from gateway.persistence.backup import restore

    with _backup_errors():
        revision = restore(Settings().effective_database_url, args.path)
    print(f"restored {args.path} (schema {revision}); start the gateway to use it")


@contextlib.contextmanager
def _backup_errors() -> Iterator[None]:
    """A refused backup or restore exits 1 with its reason; on PostgreSQL, 2 with what to use instead."""
    from gateway.persistence.backup import BackupRefused, UseDatabaseTools

    try:
        yield
    except BackupRefused as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        raise SystemExit(2 if isinstance(exc, UseDatabaseTools) else 1) from exc


def _list_things(args: argparse.Namespace) -> None:
    kind: _Kind = args.kind

    async def run(runtime: Runtime) -> None:
        summaries = await kind.summaries(runtime, getattr(args, "list_filter", None))
        print(json.dumps([dataclasses.asdict(summary) for summary in summaries], indent=2, default=_json_value))

    _with_runtime(run)


def _set_disabled(args: argparse.Namespace) -> None:
    kind: _Kind = args.kind

    async def run(runtime: Runtime) -> None:
        disabled_at = await kind.service(runtime).set_disabled(args.thing_id, args.disabled)
        _print_json({kind.id_field: args.thing_id, "disabled_at": disabled_at})

    _with_runtime(run)


def _rotate_key(args: argparse.Namespace) -> None:
    kind: _Kind = args.kind

    async def run(runtime: Runtime) -> None:
        rotated = await kind.service(runtime).rotate_key(args.thing_id)
        _print_json(
            {
                kind.id_field: rotated.owner_id,
                "key_id": rotated.key_id,
                kind.secret_field: rotated.secret,
                "previous_key_id": rotated.previous_key_id,
            }
        )
        print(
            f"The new {kind.key_name} is shown only now. Both keys work until you revoke the old one: "
            f"gateway {kind.plural} revoke-key {rotated.owner_id} {rotated.previous_key_id}",
            file=sys.stderr,
        )

    _with_runtime(run)


def _revoke_key(args: argparse.Namespace) -> None:
    kind: _Kind = args.kind

    async def run(runtime: Runtime) -> None:
        await kind.service(runtime).revoke_key(args.thing_id, args.key_id)
        _print_json({kind.id_field: args.thing_id, "revoked_key_id": args.key_id})

    _with_runtime(run)


def _create_merchant(args: argparse.Namespace) -> None:
    async def run(runtime: Runtime) -> None:
        merchant = await runtime.merchants.create_merchant(args.name, args.require_operator)
        if args.refund_requires_supervisor:
            await runtime.refunds.set_requires_supervisor(merchant.merchant_id, True)
        _print_json({"merchant_id": merchant.merchant_id, "name": merchant.name, "api_key": merchant.api_key})
        print("The API key is shown only now; store it safely.", file=sys.stderr)

    _with_runtime(run)


def _set_merchant(args: argparse.Namespace) -> None:
    async def run(runtime: Runtime) -> None:
        required = args.refund_requires_supervisor == "true"
        await runtime.refunds.set_requires_supervisor(args.merchant_id, required)
        _print_json({"merchant_id": args.merchant_id, "refund_requires_supervisor": required})

    _with_runtime(run)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


MAX_RECONCILE_DAYS = 31


def _reconcile(args: argparse.Namespace) -> None:
    last = args.to or args.date
    if not 0 <= (last - args.date).days < MAX_RECONCILE_DAYS:
        raise SystemExit(f"gateway reconcile: --to must be --date or up to {MAX_RECONCILE_DAYS - 1} days after it")
    days = [args.date + timedelta(days=n) for n in range((last - args.date).days + 1)]

    async def run(runtime: Runtime) -> None:
        channels = runtime.reconciliations.channels(args.channel)
        done = []
        with tqdm(total=len(days) * len(channels), desc="reconcile", unit="bill", file=sys.stderr) as progress:
            for day in days:
                for channel in channels:
                    progress.set_postfix_str(f"{day} {channel}")
                    done.append(reconciliation_view(await runtime.reconciliations.reconcile(day, channel)))
                    progress.update()
        _print_json({"reconciliations": done})

    _with_runtime(run)


def _fee_rate_argument(text: str) -> tuple[Channel, int]:
    channel, _, rate = text.partition("=")
    try:
        return Channel(channel), int(rate)
    except ValueError:
        choices = ", ".join(c.value for c in Channel)
        raise argparse.ArgumentTypeError(f"{text!r} is not CHANNEL=BP (CHANNEL: {choices}; BP: whole number)") from None


def _merchant_fees(args: argparse.Namespace) -> None:
    async def run(runtime: Runtime) -> None:
        for channel, rate_bp in args.set:
            await runtime.fee_rates.set_rate(args.merchant_id, channel, rate_bp)
        rates = await runtime.fee_rates.of_merchant(args.merchant_id)
        shown = [{"channel": rate.channel, "rate_bp": rate.rate_bp, "own": rate.own} for rate in rates]
        _print_json({"merchant_id": args.merchant_id, "fee_rates": shown})

    _with_runtime(run)


def _create_store(args: argparse.Namespace) -> None:
    async def run(runtime: Runtime) -> None:
        _print_json({"store_id": await runtime.merchants.create_store(args.merchant, args.name)})

    _with_runtime(run)


def _create_terminal(args: argparse.Namespace) -> None:
    async def run(runtime: Runtime) -> None:
        terminal = await runtime.merchants.create_terminal(
            args.merchant, args.store, args.name, args.single_limit_fen, args.daily_limit_fen
        )
        _print_json(
            {
                "terminal_id": terminal.terminal_id,
                "merchant_id": terminal.merchant_id,
                "store_id": terminal.store_id,
                "key_id": terminal.key_id,
                "secret": terminal.secret,
            }
        )
        print("The terminal secret is shown only now; configure it on the terminal.", file=sys.stderr)

    _with_runtime(run)


def _create_camera(args: argparse.Namespace) -> None:
    async def run(runtime: Runtime) -> None:
        camera = await runtime.cameras.create_camera(args.terminal, args.name)
        _print_json({"camera_id": camera.camera_id, "terminal_id": camera.terminal_id, "key": camera.key})
        print("The camera key is shown only now; configure it on the camera.", file=sys.stderr)

    _with_runtime(run)


def _create_operator(args: argparse.Namespace) -> None:
    password = args.password or getpass.getpass("operator password: ")

    async def run(runtime: Runtime) -> None:
        operator_id = await runtime.merchants.create_operator(
            args.merchant, args.number, args.name, password, args.role
        )
        _print_json({"operator_id": operator_id, "number": args.number, "role": args.role})

    _with_runtime(run)


def _list_operators(args: argparse.Namespace) -> None:
    async def run(runtime: Runtime) -> None:
        operators = await runtime.operators.list_operators(args.merchant)
        print(json.dumps([dataclasses.asdict(operator) for operator in operators], indent=2, default=_json_value))

    _with_runtime(run)


def _set_operator_disabled(args: argparse.Namespace) -> None:
    async def run(runtime: Runtime) -> None:
        operator = await runtime.operators.set_disabled(args.operator_id, args.disabled)
        _print_json({"operator_id": operator.operator_id, "disabled_at": operator.disabled_at})

    _with_runtime(run)


def _reset_operator_password(args: argparse.Namespace) -> None:
    password = args.password or getpass.getpass("new operator password: ")

    async def run(runtime: Runtime) -> None:
        operator = await runtime.operators.reset_password(args.operator_id, password)
        _print_json({"operator_id": operator.operator_id, "password_changed_at": operator.password_changed_at})

    _with_runtime(run)


def _with_runtime(action: Callable[[Runtime], Awaitable[None]], migrate: bool = True) -> None:
    """Run one async action against the configured database, migrating first where start-up would."""
    from gateway.persistence.migrate import upgrade

    async def run() -> None:
        runtime = Runtime.build(_admin_settings())
        try:
            if migrate and runtime.settings.should_migrate_on_start:
                await upgrade(runtime.db)
            await action(runtime)
        finally:
            await runtime.aclose()

    asyncio.run(run())


def _admin_settings() -> Settings:
    """The settings `serve` uses; in a dev var dir (where dev mode keeps its generated secret key) dev mode, as
    `./dev serve` runs it, so that key is found there without GATEWAY_SECRET_KEY.
    """
    settings = Settings()
    if settings.secret_key is not None or settings.dev_mode:
        return settings
    if settings.dev_secret_key_path.exists():
        print(f"gateway: dev var dir {settings.var_dir}: using its dev secret key", file=sys.stderr)
        return settings.model_copy(update={"dev_mode": True})
    raise ConfigurationError(
        "set GATEWAY_SECRET_KEY to the secret key the gateway serves with (it encrypts terminal keys at rest); "
        f"{settings.var_dir} is not a dev var dir (it has no {settings.dev_secret_key_path.name}, which "
        "`./dev serve` makes), so no key can be found there"
    )


def _print_json(value: dict[str, Any]) -> None:
    print(json.dumps(value, indent=2, default=_json_value))


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")
