"""Command-line tools and demo data: not part of the pipeline (no DAG task imports them)."""
