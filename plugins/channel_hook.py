"""What the channel's hooks share: a connection that cannot be found or read fails with the fix named."""

from __future__ import annotations

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException


class ChannelHook(BaseHook):
    def channel_connection(self, conn_id: str):
        """The Airflow connection `conn_id`; a missing or malformed one raises NotRetryableError saying why."""
        from amazon_channel.errors import NotRetryableError, missing_connection_reason

        try:
            return self.get_connection(conn_id)
        except AirflowNotFoundException:
            raise NotRetryableError(missing_connection_reason(conn_id)) from None
