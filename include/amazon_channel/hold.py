"""`python -m amazon_channel.hold release ORDER`: the hold command at its documented name; it lives in tools/hold.py."""
from .tools.hold import main

if __name__ == "__main__":
    raise SystemExit(main())
