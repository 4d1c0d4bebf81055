"""Run one channel simulator on its own: `gateway-simulators wechat --port 9101`."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from adapters.registry import CHANNELS
from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gateway-simulators", description=__doc__)
    parser.add_argument("channel", choices=sorted(CHANNELS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    parser.add_argument("--var-dir", type=Path, default=Path("var"), help="where the simulator keeps its keys")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies password delays and notify ladders")
    parser.add_argument(
        "--latency-ms",
        type=_milliseconds,
        default=0.0,
        help="answer each protocol request this many milliseconds late (an asyncio sleep, times --time-scale)",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn's log level (warning: no access log)")
    args = parser.parse_args(argv)
    module, _adapter = CHANNELS[args.channel]
    settings = SimulatorSettings(bank=BankSettings(time_scale=args.time_scale), latency_s=args.latency_ms / 1000)
    simulator = module.create_simulator(args.var_dir, settings)
    print(f"{args.channel} simulator on http://{args.host}:{args.port} (keys in {args.var_dir})", flush=True)
    quiet = args.log_level.lower() not in ("debug", "trace", "info")
    uvicorn.run(simulator.app, host=args.host, port=args.port, log_level=args.log_level, access_log=not quiet)


def _milliseconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a number of milliseconds >= 0, not {text!r}")
    return value


if __name__ == "__main__":
    main()
