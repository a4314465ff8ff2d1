"""`python -m amazon_channel.cancel ...`: the `cancel` command at its documented name; it lives in tools/cancel.py."""
from .tools.cancel import main

if __name__ == "__main__":
    raise SystemExit(main())
