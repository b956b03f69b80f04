"""Security headers: on every API response (middleware) and for the static pages (see local/stack.py
and the CloudFront response headers policy in infra/resources.yaml, which state the same policy).

API answers carry patient data, so nothing between the browser and us may keep a copy: every
response says ``no-store`` unless its route chose a cache policy itself (calendar files).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice import Response

API_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
HSTS = "max-age=63072000; includeSubDomains; preload"


def security_headers(event: Any, get_response: Callable[[Any], Response]) -> Response:
    """Chalice "http" middleware: the headers above on every answer, errors included."""
    response = get_response(event)
    headers = response.headers
    present = {k.lower() for k in headers}
    for name, value in API_HEADERS.items():
        if name.lower() not in present:
            headers[name] = value
    return response


@dataclass(frozen=True)
class StripeSources:
    """The origins Stripe.js needs, directive by directive (and nothing else gets them)."""

    script: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    frame: tuple[str, ...] = ()


# Stripe.js v3 as Stripe's integration security guide lists it: the script, the frames the Card Element and
# 3-D Secure draw in, and the API the script calls. infra/resources.yaml states the same for CloudFront.
STRIPE_JS = StripeSources(
    script=("https://js.stripe.com", "https://*.js.stripe.com"),
    connect=("https://api.stripe.com",),
    frame=("https://js.stripe.com", "https://*.js.stripe.com", "https://hooks.stripe.com"),
)


def localstripe_sources(origin: str) -> StripeSources:
    """localstripe's Stripe.js stand-in: its script and its API on one origin; it draws no frames."""
    return StripeSources(script=(origin,), connect=(origin,))


def content_security_policy(
    api_origins: tuple[str, ...] = (), stripe: StripeSources = STRIPE_JS, image_origins: tuple[str, ...] = ()
) -> str:
    """The pages' CSP: scripts from the site (and Stripe.js) only, never inline; no framing.

    ``image_origins`` is the image bucket's origin: pages show its presigned GET URLs (img-src) and the
    staff card posts uploads straight to it with a presigned POST (connect-src). Only signed requests
    succeed there, so allowing it to every page opens no way out for data.
    """

    def src(*extra: str) -> str:
        return " ".join(("'self'", *extra))

    directives = [
        "default-src 'self'",
        f"script-src {src(*stripe.script)}",
        "style-src 'self'",
        f"img-src {src('data:', 'blob:', *image_origins)}",
        f"connect-src {src(*api_origins, *stripe.connect, *image_origins)}",
        f"frame-src {src(*stripe.frame)}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


def page_headers(csp: str, production: bool) -> dict[str, str]:
    """Headers for the static pages; HSTS only where the site is served over HTTPS."""
    headers = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
    if production:
        headers["Strict-Transport-Security"] = HSTS
    return headers
