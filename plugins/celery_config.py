"""Celery settings of this project's workers (`[celery] celery_config_options = celery_config.CELERY_CONFIG`):
Airflow's defaults, plus the pipeline's heavy modules imported once per worker (amazon_channel.preload), so each
task's forked process starts with pandas and Great Expectations already loaded."""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG,
                 "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), "amazon_channel.preload")}
