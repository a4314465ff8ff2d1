"""Failure, data-quality and cancellation alerts for the Amazon channel DAGs, through Airflow's notifier mechanism.

The target is the Airflow connection `amazon_channel_alerts` (none: alerts are only logged):
- a webhook: conn_type `http`, host = the full URL (Slack, Teams, Mattermost or any JSON receiver); optional
  extra `headers`. The body is JSON with a Slack-style `text` line and the structured `alert`.
- e-mail: conn_type `smtp`, host, port, login/password; extra `to` (list or comma-separated), `from`, `starttls`.
  Example: AIRFLOW_CONN_AMAZON_CHANNEL_ALERTS='{"conn_type": "smtp", "host": "mail.example", "port": 587,
  "login": "...", "password": "...", "extra": {"to": "ops@example.com", "starttls": true}}'

Alerts carry the seller account, ids, counts and reasons, never order payloads; e-mail addresses in error text are
masked anyway.
"""

from __future__ import annotations

import json
import re
import smtplib
from email.message import EmailMessage

from airflow.sdk import BaseHook, BaseNotifier

ALERT_CONN_ID = "amazon_channel_alerts"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def redact(text: str, limit: int = 500) -> str:
    return EMAIL.sub("<email>", text)[:limit]


class ChannelAlert(BaseNotifier):
    """`kind` is "failure" (a task failed for good), "data_quality" (rows went to quarantine), "cancel_request" (buyers
    asked Amazon to cancel: their packages are held) or "cancellation_rejected" (Amazon refused a cancellation sent
    from Commerce, or it could not be sent). `account_id` names the seller account whose DAG alerts."""

    template_fields = ("kind",)

    def __init__(self, kind: str = "failure", detail: dict | None = None, conn_id: str = ALERT_CONN_ID,
                 account_id: str = "default"):
        super().__init__()
        self.kind, self.detail, self.conn_id, self.account_id = kind, detail or {}, conn_id, account_id

    def build(self, context) -> dict:
        ti = context.get("ti") or context.get("task_instance")
        dag = context.get("dag")
        error = context.get("exception")
        alert = {
            "kind": self.kind,
            "account_id": self.account_id,
            "dag_id": getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None),
            "run_id": context.get("run_id") or getattr(ti, "run_id", None),
            "task_id": getattr(ti, "task_id", None),
            "try_number": getattr(ti, "try_number", None),
            "data_interval_start": str(context.get("data_interval_start") or ""),
            "data_interval_end": str(context.get("data_interval_end") or ""),
            **self.detail,
        }
        if error is not None:
            alert["error"] = redact(f"{type(error).__name__}: {error}")
        return alert

    def notify(self, context) -> None:
        alert = self.build(context)
        subject = f"[Amazon channel] {self.kind.replace('_', ' ')}: {alert['dag_id']} / {alert['task_id']}"
        text = (f"{subject} · account {alert['account_id']} · run {alert['run_id']}"
                + (f" · {alert['error']}" if "error" in alert else ""))
        try:
            conn = BaseHook.get_connection(self.conn_id)
        except Exception:  # no target configured: the task log still has it
            self.log.warning("alert (no connection %r configured): %s", self.conn_id, text)
            return
        if conn.conn_type in ("smtp", "email"):
            self._email(conn, subject, text, alert)
        else:
            self._webhook(conn, text, alert)
        self.log.info("alert sent (%s) via %s", self.kind, conn.conn_type)

    @staticmethod
    def _webhook(conn, text: str, alert: dict) -> None:
        import requests

        url = conn.host if "://" in (conn.host or "") else (
            f"{conn.schema or 'https'}://{conn.host}{f':{conn.port}' if conn.port else ''}")
        headers = {"Content-Type": "application/json", **conn.extra_dejson.get("headers", {})}
        response = requests.post(url, data=json.dumps({"text": text, "alert": alert}, default=str),
                                 headers=headers, timeout=10)
        response.raise_for_status()

    @staticmethod
    def _email(conn, subject: str, text: str, alert: dict) -> None:
        extra = conn.extra_dejson
        to = extra.get("to", [])
        message = EmailMessage()
        message["Subject"], message["From"] = subject, extra.get("from", conn.login or "airflow@localhost")
        message["To"] = ", ".join(to) if isinstance(to, list) else to
        message.set_content(text + "\n\n" + json.dumps(alert, indent=2, default=str))
        with smtplib.SMTP(conn.host, conn.port or 25, timeout=10) as smtp:
            if extra.get("starttls"):
                smtp.starttls()
            if conn.login:
                smtp.login(conn.login, conn.password or "")
            smtp.send_message(message)
