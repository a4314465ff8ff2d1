"""
### ERP order export (example downstream consumer)

Runs whenever `amazon_orders_sync` announces Commerce orders on the asset `commerce://sales_order`, and writes
the orders it has not exported yet to a CSV file under the staging root (`erp_export/`), as an ERP feed would.
The asset event's metadata (counts) is logged; the high-water mark is the last exported `sales_order.entity_id`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, get_current_context, task
from channel_common import COMMERCE_ORDERS, commerce_db, staging


@dag(dag_id="erp_order_export", dag_display_name="ERP order export (example)", schedule=[COMMERCE_ORDERS],
     start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False, max_active_runs=1, doc_md=__doc__,
     tags=["example", "erp"])
def erp_order_export():
    @task(task_display_name="Export new Commerce orders")
    def export_new_orders() -> dict:
        from amazon_channel.erp_export import export_orders_since_mark

        for event in get_current_context()["triggering_asset_events"].get(COMMERCE_ORDERS, []):
            print(f"asset event from {event.source_run_id}: {event.extra}")
        with commerce_db() as engine:
            return export_orders_since_mark(engine, staging())

    export_new_orders()


erp_order_export()
