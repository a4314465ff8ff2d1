"""Airflow hook for the Commerce database: the `commerce_db` connection's SQLAlchemy URL.

Connection: extra `url` = a SQLAlchemy URL (`sqlite:////path/commerce.db`, `postgresql+psycopg2://...`,
`mysql+pymysql://...`). Example: AIRFLOW_CONN_COMMERCE_DB='{"conn_type": "generic", "extra": {"url": "..."}}'
"""

from __future__ import annotations

from channel_hook import ChannelHook


class CommerceDbHook(ChannelHook):
    conn_name_attr = "commerce_db_conn_id"
    default_conn_name = "commerce_db"
    conn_type = "generic"
    hook_name = "Commerce database"

    def __init__(self, commerce_db_conn_id: str = default_conn_name):
        super().__init__()
        self.commerce_db_conn_id = commerce_db_conn_id

    def get_url(self) -> str:
        from amazon_channel.errors import NotRetryableError

        url = self.channel_connection(self.commerce_db_conn_id).extra_dejson.get("url")
        if not url:
            raise NotRetryableError(f"connection {self.commerce_db_conn_id!r} needs extra.url, "
                             "the Commerce DB's SQLAlchemy URL")
        return url

    def get_conn(self):
        from amazon_channel.commerce.db import commerce_engine

        return commerce_engine(self.get_url())
