"""Kept for compatibility: `python -m amazon_channel.commerce.demo URL [--warehouse]` still works. The demo data
is a tool, not part of the Commerce database code: use `python -m amazon_channel.tools.demo` (tools/demo.py)."""
from ..tools.demo import main, seed_catalog, ship_ready_orders  # noqa: F401 (old import path)

if __name__ == "__main__":
    main()
