"""Run the emulator: `python -m amazon_channel.emulator --port 8900 --seed 42 --orders 5000`."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields

import uvicorn

from .app import create_app
from .state import EmulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SP-API emulator (Orders v2026-01-01, v0 confirmShipment, LWA)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("EMULATOR_PORT", "8900")))
    for f in fields(EmulatorConfig):
        kind = str if f.default is None else type(f.default)
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind, default=f.default)
    args = vars(parser.parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    app = create_app(EmulatorConfig(**args))
    print(f"SP-API emulator on http://{host}:{port} (admin API and docs under /_emulator/)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


if __name__ == "__main__":
    main()
