"""Builds the appointment ``Ports`` from the request's ``deps()`` container.

The closure, waitlist and feed stores are stateless, so they are made here; a test may replace
any of them through ``deps().extras`` ("appointment_closures", "appointment_waitlist",
"appointment_feeds").
"""

from __future__ import annotations

from chalicelib.appointments.service import Ports
from chalicelib.appointments.store import DynamoClosures, DynamoFeeds, DynamoWaitlist
from chalicelib.platform.deps import deps
from chalicelib.platform.secrets import token_signing_key
from chalicelib.platform.settings import get_settings


def ports() -> Ports:
    d = deps()
    settings = get_settings()
    return Ports(
        practices=d.practices,
        patients=d.patients,
        appointments=d.appointments,
        closures=d.extras.get("appointment_closures") or DynamoClosures(),
        waitlist=d.extras.get("appointment_waitlist") or DynamoWaitlist(),
        feeds=d.extras.get("appointment_feeds") or DynamoFeeds(),
        auditor=d.auditor,
        events=d.appointment_events,
        clock=d.clock,
        email=d.email,
        sms=d.sms,
        signing_key=token_signing_key,
        web_base_url=settings.web_base_url,
        api_base_url=settings.api_base_url,
    )
