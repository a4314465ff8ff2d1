"""Airflow hook for the Amazon Selling Partner API: turns the `amazon_sp_api` connection into our client.

Connection fields: login = LWA client id, password = LWA client secret; extras: refresh_token, region
(na/eu/fe), marketplace_ids (list or comma-separated), optional endpoint (SP-API base URL: sandbox or
emulator), lwa_endpoint (token URL), sandbox, and limits:
  timeout (30: seconds one HTTP exchange may take, connecting and the whole answer included; a server that
  trickles its answer is cut off there and retried), deadline (900: seconds one call may spend, retries included),
  backoff_base (1) and backoff_cap (60) for retry pauses, max_response_bytes (33554432 = 32 MiB: larger answers
  are refused), max_pages_per_hour (2000: a search stops with an error after this many pages of 100 orders per
  hour of its window, at least 100 pages; a search without both window ends counts as 24 hours; a repeated
  nextToken always stops it). Redirects are never followed: credentials go only to endpoint and lwa_endpoint.
Example for the environment:

    AIRFLOW_CONN_AMAZON_SP_API='{"conn_type": "generic", "login": "amzn1.application-oa2-client.x",
      "password": "...", "extra": {"refresh_token": "Atzr|...", "region": "na",
      "marketplace_ids": ["ATVPDKIKX0DER"]}}'
"""

from __future__ import annotations

from channel_hook import ChannelHook


class AmazonSpApiHook(ChannelHook):
    conn_name_attr = "amazon_sp_api_conn_id"
    default_conn_name = "amazon_sp_api"
    conn_type = "generic"
    hook_name = "Amazon Selling Partner API"

    def __init__(self, amazon_sp_api_conn_id: str = default_conn_name):
        super().__init__()
        self.amazon_sp_api_conn_id = amazon_sp_api_conn_id

    def get_config(self):
        from amazon_channel.errors import NotRetryableError
        from amazon_channel.rules import marketplaces_outside_region
        from amazon_channel.spapi import SpApiConfig

        conn = self.channel_connection(self.amazon_sp_api_conn_id)
        try:
            config = SpApiConfig.from_connection(conn.login, conn.password, conn.extra_dejson)
        except (ValueError, TypeError) as exc:
            raise NotRetryableError(f"connection {self.amazon_sp_api_conn_id!r}: {exc}") from None
        if wrong := marketplaces_outside_region(config.region, config.marketplace_ids):
            raise NotRetryableError(
                f"connection {self.amazon_sp_api_conn_id!r}: extra.marketplace_ids {wrong} are not served by region "
                f"{config.region!r}. Fix: one connection per region, each listing only its own marketplaces")
        return config

    def get_conn(self):
        from amazon_channel.spapi import SpApiClient

        return SpApiClient(self.get_config())
