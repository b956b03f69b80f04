"""Security headers for the pages (CloudFront in production, the local web server) and the API, and
no session token in any URL except the single-purpose signed links."""

from __future__ import annotations

import re
from pathlib import Path

from chalice import Response

import app as _app  # noqa: F401 - registers every route
from chalicelib.platform.api import OPERATIONS
from chalicelib.platform.headers import (
    STRIPE_JS,
    content_security_policy,
    localstripe_sources,
    page_headers,
    security_headers,
)
from tests.integration.test_isolation_matrix import classify
from tests.unit.test_infra_template import RESOURCES

ROOT = Path(__file__).resolve().parents[2]


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def _site_policy() -> dict[str, object]:
    distribution = RESOURCES["SiteDistribution"]["Properties"]["DistributionConfig"]
    assert distribution["DefaultCacheBehavior"]["ResponseHeadersPolicyId"] == {"Ref": "SiteHeadersPolicy"}
    config = RESOURCES["SiteHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    return dict(config)


def test_the_production_pages_forbid_inline_script_and_framing_and_demand_https() -> None:
    config = _site_policy()
    csp = config["ContentSecurityPolicy"]
    assert isinstance(csp, dict)
    directives = _directives(str(csp["ContentSecurityPolicy"]["Sub"]))
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    hsts = config["StrictTransportSecurity"]
    assert isinstance(hsts, dict) and hsts["AccessControlMaxAgeSec"] >= 31536000 and hsts["IncludeSubdomains"]


def test_the_local_pages_get_the_same_policy_as_production_without_hsts() -> None:
    csp = content_security_policy(
        ("http://127.0.0.1:1",), localstripe_sources("http://127.0.0.1:2"), ("http://127.0.0.1:3",)
    )
    local = _directives(csp)
    production = _directives(str(_site_policy()["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Sub"]))  # type: ignore[index]
    assert set(local) == set(production)
    for name in ("default-src", "style-src", "object-src", "base-uri", "form-action", "frame-ancestors"):
        assert local[name] == production[name], name
    assert "'unsafe-inline'" not in csp
    assert "Strict-Transport-Security" not in page_headers(csp, production=False)
    assert page_headers(csp, production=True)["Strict-Transport-Security"].startswith("max-age=")


def test_the_pages_may_post_uploads_to_the_image_bucket_origin_they_show_images_from_and_no_wider() -> None:
    production = _directives(str(_site_policy()["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Sub"]))  # type: ignore[index]
    bucket_img = [o for o in production["img-src"] if "amazonaws.com" in o]
    bucket_connect = [o for o in production["connect-src"] if "amazonaws.com" in o]
    assert len(bucket_img) == 1 and bucket_connect == bucket_img
    local = _directives(content_security_policy(("http://127.0.0.1:1",), image_origins=("http://127.0.0.1:3",)))
    assert "http://127.0.0.1:3" in local["connect-src"] and "http://127.0.0.1:3" in local["img-src"]
    assert "*" not in " ".join(local["connect-src"] + production["connect-src"])


def test_stripe_gets_exactly_what_stripe_js_needs_in_production_and_localstripe_no_frames_locally() -> None:
    production = _directives(str(_site_policy()["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Sub"]))  # type: ignore[index]
    stated = _directives(content_security_policy(stripe=STRIPE_JS))
    bucket = [o for o in production["connect-src"] if "amazonaws.com" in o]  # the image bucket, tested above
    production["connect-src"] = [o for o in production["connect-src"] if o not in bucket]
    for name in ("script-src", "connect-src", "frame-src"):
        assert production[name] == stated[name], name
    assert production["script-src"] == ["'self'", "https://js.stripe.com", "https://*.js.stripe.com"]
    assert production["connect-src"] == ["'self'", "https://api.stripe.com"]
    assert production["frame-src"] == [
        "'self'",
        "https://js.stripe.com",
        "https://*.js.stripe.com",
        "https://hooks.stripe.com",
    ]
    local = _directives(content_security_policy(("http://127.0.0.1:1",), localstripe_sources("http://127.0.0.1:2")))
    assert local["script-src"] == ["'self'", "http://127.0.0.1:2"]
    assert local["connect-src"] == ["'self'", "http://127.0.0.1:1", "http://127.0.0.1:2"]
    assert local["frame-src"] == ["'self'"]


def test_api_answers_say_no_store_unless_the_route_chose_a_cache_policy() -> None:
    plain = security_headers(None, lambda _e: Response(body={"a": 1}, status_code=200))
    assert plain.headers["Cache-Control"] == "no-store"
    assert plain.headers["X-Content-Type-Options"] == "nosniff"
    chosen = security_headers(
        None, lambda _e: Response(body="x", status_code=200, headers={"cache-control": "private, max-age=300"})
    )
    assert chosen.headers["cache-control"] == "private, max-age=300"
    assert "Cache-Control" not in chosen.headers


def test_no_route_takes_a_token_in_its_query_and_only_signed_links_in_their_path() -> None:
    for op in OPERATIONS.values():
        for name in op.query:
            assert not re.search(r"token|session|auth|password|code", name, re.I), (op.path, name)
        if "{token}" in op.path:
            assert classify(op) == "signed-link", f"{op.path} carries a token in its path but is not a signed link"
            assert op.auth == "public", op.path


def test_the_pages_never_put_a_session_token_in_a_url() -> None:
    scripts = [p for p in (ROOT / "web").rglob("*.js") if "vendor" not in p.parts]
    assert scripts
    for script in scripts:
        text = script.read_text()
        # A token goes in the Authorization header; a URL built with it would end up in logs and history.
        assert not re.search(r"[?&](token|session|access_token|id_token)=", text), script
        assert not re.search(r"URLSearchParams\([^)]*token", text, re.I), script
    for page in (ROOT / "web").rglob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {page}"
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", html), f"inline event handler in {page}"
