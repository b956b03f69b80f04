"""Powertools logger and metrics, shared by every handler.

Log ids, never names, phones, emails or birth dates. Events are never logged whole.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="chairside-api")
metrics = Metrics(namespace="Chairside", service="chairside")
