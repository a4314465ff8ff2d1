"""Airflow hook for the Commerce database: the `commerce_db` connection's SQLAlchemy URL.

Connection: extra `url` = a SQLAlchemy URL (`sqlite:////path/commerce.db`, `postgresql+psycopg2://...`,
`mysql+pymysql://...`). Example: AIRFLOW_CONN_COMMERCE_DB='{"conn_type": "generic", "extra": {"url": "..."}}'

Buyer data in the channel tables and staging is sealed with the keys of the connection
`amazon_channel_buyer_data_key` (its password: keys newest first, comma-separated; see amazon_channel.crypto) when
it exists, else with AMAZON_CHANNEL_BUYER_DATA_KEYS from the environment.
"""

from __future__ import annotations

from airflow.sdk import BaseHook
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

        use_buyer_data_keys()
        url = self.channel_connection(self.commerce_db_conn_id).extra_dejson.get("url")
        if not url:
            raise NotRetryableError(f"connection {self.commerce_db_conn_id!r} needs extra.url, "
                             "the Commerce DB's SQLAlchemy URL")
        return url

    def get_conn(self):
        from amazon_channel.commerce.db import commerce_engine

        return commerce_engine(self.get_url())


def use_buyer_data_keys() -> None:
    """This process's buyer data keys from the connection `amazon_channel_buyer_data_key` when it exists (the
    environment's AMAZON_CHANNEL_BUYER_DATA_KEYS applies otherwise)."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    from amazon_channel import crypto

    try:
        keys = BaseHook.get_connection(crypto.KEY_CONN_ID).password
    except AirflowNotFoundException:
        return
    crypto.use_keys(keys)
