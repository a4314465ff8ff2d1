"""`python -m amazon_channel.ship ...`: the `ship` command at its documented name; it lives in tools/ship.py."""
from .tools.ship import main

if __name__ == "__main__":
    raise SystemExit(main())
