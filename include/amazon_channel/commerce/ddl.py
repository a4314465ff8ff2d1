"""Render the schema as reviewed DDL per dialect: `python -m amazon_channel.commerce.ddl sql/` (`make ddl`)."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from .schema import metadata

DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect(), "mariadb": mysql.dialect(is_mariadb=True)}


def render(dialect_name: str) -> str:
    dialect = DIALECTS[dialect_name]
    parts = [f"-- Commerce database schema for {dialect_name}, generated from amazon_channel.commerce.schema.\n"
             f"-- Regenerate with `make ddl`; a test fails when this file and the schema disagree.\n"]
    for table in metadata.sorted_tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";\n")
        parts.extend(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";\n" for index in
                     sorted(table.indexes, key=lambda i: i.name))
    return "\n".join(parts)


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "sql")
    for name in DIALECTS:
        (folder / f"{name}.sql").write_text(render(name), encoding="utf-8")
        print(f"wrote {folder / name}.sql")
