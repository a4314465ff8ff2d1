"""Amazon Sales Channel pipeline: the business logic behind the Airflow DAGs.

Plain Python with no Airflow import, so every piece is unit-testable on its own.
"""

__version__ = "0.1.0"
