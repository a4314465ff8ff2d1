"""Airflow hook for the Amazon Selling Partner API: turns the `amazon_sp_api` connection into our client.

Connection fields: login = LWA client id, password = LWA client secret; extras: refresh_token, region
(na/eu/fe), marketplace_ids (list or comma-separated), optional endpoint (SP-API base URL: sandbox or
emulator), lwa_endpoint (token URL), sandbox, timeout, deadline. Example for the environment:

    AIRFLOW_CONN_AMAZON_SP_API='{"conn_type": "generic", "login": "amzn1.application-oa2-client.x",
      "password": "...", "extra": {"refresh_token": "Atzr|...", "region": "na",
      "marketplace_ids": ["ATVPDKIKX0DER"]}}'
"""

from __future__ import annotations

from airflow.sdk import BaseHook


class AmazonSpApiHook(BaseHook):
    conn_name_attr = "amazon_sp_api_conn_id"
    default_conn_name = "amazon_sp_api"
    conn_type = "generic"
    hook_name = "Amazon Selling Partner API"

    def __init__(self, amazon_sp_api_conn_id: str = default_conn_name):
        super().__init__()
        self.amazon_sp_api_conn_id = amazon_sp_api_conn_id

    def get_config(self):
        from amazon_channel.spapi import SpApiConfig

        conn = self.get_connection(self.amazon_sp_api_conn_id)
        try:
            return SpApiConfig.from_connection(conn.login, conn.password, conn.extra_dejson)
        except ValueError as exc:
            raise ValueError(f"connection {self.amazon_sp_api_conn_id!r}: {exc}") from None

    def get_conn(self):
        from amazon_channel.spapi import SpApiClient

        return SpApiClient(self.get_config())
