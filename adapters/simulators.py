"""Run one channel simulator on its own: `python -m adapters.simulators wechat --port 9101`."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from adapters.registry import CHANNELS
from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adapters.simulators", description=__doc__)
    parser.add_argument("channel", choices=sorted(CHANNELS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    parser.add_argument("--var-dir", type=Path, default=Path("var"), help="where the simulator keeps its keys")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies password delays and notify ladders")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added before every answer")
    args = parser.parse_args(argv)
    module, _adapter = CHANNELS[args.channel]
    settings = SimulatorSettings(bank=BankSettings(time_scale=args.time_scale), latency_s=args.latency)
    simulator = module.create_simulator(args.var_dir, settings)
    print(f"{args.channel} simulator on http://{args.host}:{args.port} (keys in {args.var_dir})")
    uvicorn.run(simulator.app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
