"""The embedded local stack behind `make run` and the end-to-end tests.

One process holds everything it starts: moto's ThreadedMotoServer as AWS, localstripe as Stripe
(a child process that dies with us), the API (chalice's local server, stage "local") and a small
web server for the static pages, the generated /config.js and the local-only outbox. A ticker
thread invokes every `@app.schedule` handler once a minute with an EventBridge-shaped event.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WEB_ROOT = ROOT / "web"
HOST = "127.0.0.1"
# socketserver listens with a backlog of 5: more clients connecting at once have their SYNs dropped and
# retried after 1, 3, 7, 15 s..., which looks like a slow server that is in fact idle (the load test).
LISTEN_BACKLOG = 128
TICK_FINISH_SECONDS = 10  # how long Ctrl-C waits for a tick in progress
ACCOUNT = "123456789012"
REGION = "us-east-1"
DEMO_STAFF_PASSWORD = "Chairside-demo-1"  # noqa: S105 - local demo users in moto only
# Made-up display names: patients' access logs show who looked at their record by role and name.
DEMO_STAFF_NAMES = {
    "owner": "Morgan Hale",
    "manager": "Priya Shah",
    "front_desk": "Dana Lee",
    "clinical": "Chris Ortega",
}


class PortBusy(RuntimeError):
    pass


@dataclass
class StackOptions:
    api_port: int = 8000
    web_port: int = 8080
    moto_port: int = 5000
    stripe_port: int = 8420
    demo_patients: int | None = 2000  # None loads no demo practice
    demo_anchor: date | None = None
    demo_seed: int = 20261203
    tick_seconds: float = 60.0
    quiet: bool = True  # silence per-request access logs
    progress: Any = None  # called (phase, done, total) while the demo loads


@dataclass(frozen=True)
class StaffSignIn:
    username: str
    password: str
    practice_id: str
    role: str
    name: str = ""


@dataclass
class LocalStack:
    options: StackOptions = field(default_factory=StackOptions)
    demo: Any = None  # local.demo.DemoInfo once loaded
    staff_users: list[StaffSignIn] = field(default_factory=list)
    ticks: int = 0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closers: list[Any] = []
        self._stripe: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}
        self._outbox_seen: dict[str, float] = {}
        self._outbox_lock = threading.Lock()

    # -- addresses -------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.ports['api']}"

    @property
    def web_url(self) -> str:
        return f"http://{HOST}:{self.ports['web']}"

    @property
    def moto_url(self) -> str:
        return f"http://{HOST}:{self.ports['moto']}"

    @property
    def stripe_url(self) -> str:
        return f"http://{HOST}:{self.ports['stripe']}"

    @property
    def outbox_url(self) -> str:
        return f"{self.web_url}/outbox/"

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._claim_ports()
        try:
            self._configure_environment()
            self._start_moto()
            self._start_stripe()
            self._bootstrap()
            self._start_api()
            self._start_web()
            self._start_ticker()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._stop.set()
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                close()
        self._closers.clear()
        if self._stripe is not None and self._stripe.poll() is None:
            self._stripe.terminate()
            try:
                self._stripe.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._stripe.kill()
        self._stripe = None

    # -- steps -----------------------------------------------------------------------------------
    def _claim_ports(self) -> None:
        wanted = {
            "api": self.options.api_port,
            "web": self.options.web_port,
            "moto": self.options.moto_port,
            "stripe": self.options.stripe_port,
        }
        for name, port in wanted.items():
            self.ports[name] = port if port else _free_port()
            if port and not _port_is_free(port):
                raise PortBusy(
                    f"port {port} ({name}) is already in use. Stop whatever is listening there "
                    f"(`ss -ltnp 'sport = :{port}'` shows it) or pick another port: "
                    f"make run CHAIRSIDE_{name.upper()}_PORT=<port>"
                )

    def _configure_environment(self) -> None:
        stage = json.loads((ROOT / ".chalice" / "config.json").read_text())
        env: dict[str, str] = {
            **stage.get("environment_variables", {}),
            **stage["stages"]["local"].get("environment_variables", {}),
        }
        env.update(
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto accepts anything
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            AWS_ENDPOINT_URL=self.moto_url,
            TABLE_NAME="chairside",
            IMAGE_BUCKET="chairside-images-local",
            SENDER_EMAIL="reminders@maple.example.test",
            TOKEN_SIGNING_KEY=secrets.token_urlsafe(32),
            STRIPE_API_BASE=self.stripe_url,
            STRIPE_SECRET_KEY="sk_test_local",  # noqa: S106 - localstripe accepts any test key
            STRIPE_PUBLISHABLE_KEY="pk_test_local",
            STRIPE_WEBHOOK_SECRET="whsec_local",  # noqa: S106
            WEB_BASE_URL=self.web_url,
            API_BASE_URL=self.api_url,
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(env)

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer

        from local import atomic_dynamodb

        atomic_dynamodb.install()  # the API, the tick and the web server write concurrently
        atomic_dynamodb.item_rollback_transactions()  # analytics roll-ups write many small transactions
        atomic_dynamodb.unsorted_queries()  # a query would sort the whole table first
        atomic_dynamodb.plain_json_item_answers()  # items would be serialized attribute by attribute

        if self.options.quiet:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address=HOST, port=self.ports["moto"], verbose=False)
        server.start()
        self._closers.append(server.stop)
        _wait_for_http(f"{self.moto_url}/moto-api/data.json")

    def _start_stripe(self) -> None:
        code = (
            "import sys; from localstripe.server import start; "
            f"sys.argv = ['localstripe', '--port', '{self.ports['stripe']}', '--from-scratch']; start()"
        )
        self._stripe = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets the parent-death signal
        )
        _wait_for_http(f"{self.stripe_url}/js.stripe.com/v3/")

    def _bootstrap(self) -> None:
        from chalicelib.platform.aws import reset_clients
        from local.bootstrap import StaffUser, add_staff_user, create_resources, create_user_pool

        reset_clients()
        create_resources()
        pool = create_user_pool()
        os.environ["COGNITO_USER_POOL_ID"] = pool.pool_id
        os.environ["COGNITO_CLIENT_ID"] = pool.client_id
        os.environ["COGNITO_JWKS_URL"] = f"{self.moto_url}/{pool.pool_id}/.well-known/jwks.json"
        if self.options.demo_patients:
            from local.demo import load_demo

            anchor = self.options.demo_anchor or datetime.now(UTC).date()
            self.demo = load_demo(
                anchor, seed=self.options.demo_seed, patients=self.options.demo_patients, progress=self.options.progress
            )
            practice_id = self.demo.practice_id
            from chalicelib.images.demo import load_demo as load_demo_images

            # X-rays and a photo for the showcase patient and for the guardian's first child, processed
            # like a staff upload (the images bucket exists only here, not in the importer's bench).
            load_demo_images(practice_id, [self.demo.patient.patient_ids[0], self.demo.guardian.patient_ids[0]])
            for role, name in DEMO_STAFF_NAMES.items():
                user = StaffSignIn(
                    f"{role.replace('_', '')}@{practice_id}.example.test", DEMO_STAFF_PASSWORD, practice_id, role, name
                )
                add_staff_user(pool, StaffUser(user.username, user.password, user.practice_id, user.role, user.name))
                self.staff_users.append(user)
        from local.stripe_local import wire_local_stripe

        wire_local_stripe(self.stripe_url, self.api_url, self.demo)

    def _start_api(self) -> None:
        from chalice.cli.factory import CLIFactory

        from local.gateway import GatewayResponsesHandler

        factory = CLIFactory(project_dir=str(ROOT))
        config = factory.create_config_obj(chalice_stage_name="local")
        app_obj = factory.load_chalice_app(environment_variables=config.environment_variables)
        if self.options.quiet:
            from chalice.local import ChaliceRequestHandler

            ChaliceRequestHandler.log_message = _silent
        server = factory.create_local_server(app_obj, config, HOST, self.ports["api"])
        # The deployed stack's gateway responses (infra/resources.yaml): an unknown route is a JSON 404.
        server.server.RequestHandlerClass = functools.partial(
            GatewayResponsesHandler, app_object=app_obj, config=config
        )
        server.server.socket.listen(LISTEN_BACKLOG)
        _quiet_disconnects(server.server)
        self._spawn("api", server.server.serve_forever)
        self._closers.append(server.shutdown)
        _wait_for_http(f"{self.api_url}/health")

    def _start_web(self) -> None:
        stack = self

        class Handler(_WebHandler):
            owner = stack

        server = ThreadingHTTPServer((HOST, self.ports["web"]), Handler, bind_and_activate=False)
        server.request_queue_size = LISTEN_BACKLOG
        _quiet_disconnects(server)
        server.server_bind()
        server.server_activate()
        server.daemon_threads = True
        self._spawn("web", server.serve_forever)
        self._closers.append(server.shutdown)
        self._closers.append(server.server_close)

    def _start_ticker(self) -> None:
        self._spawn("ticker", self._tick_forever)
        ticker = self._threads[-1]
        # Closed first (closers run in reverse): a tick in progress gets a moment to finish before moto and the
        # API close under it, so Ctrl-C during a sweep does not end in a connection-refused traceback.
        self._closers.append(lambda: ticker.join(timeout=TICK_FINISH_SECONDS))

    # -- the EventBridge stand-in ------------------------------------------------------------------
    def tick(self, at: datetime | None = None) -> dict[str, Any]:
        """Invoke every scheduled handler once, as an EventBridge rule would."""
        import app as app_module

        at = at or datetime.now(UTC)
        outcomes: dict[str, Any] = {}
        for source in app_module.app.event_sources:
            if type(source).__name__ != "ScheduledEventConfig":
                continue
            handler = getattr(app_module, source.handler_string.rsplit(".", 1)[-1])
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": REGION,
                "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/chairside-local-{source.name}"],
                "detail": {},
            }
            outcomes[source.name] = handler(event, _LambdaContext(source.name))
        self.ticks += 1
        return outcomes

    def _tick_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:
                print(f"scheduled tick failed: {type(exc).__name__}", file=sys.stderr)
            # EventBridge's rate(1 minute) fires near the top of each minute.
            period = self.options.tick_seconds
            self._stop.wait(period - (time.time() % period) if period >= 60 else period)

    def _spawn(self, name: str, target: Any) -> None:
        thread = threading.Thread(target=target, name=f"chairside-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- the local outbox --------------------------------------------------------------------------
    def outbox(self) -> list[dict[str, Any]]:
        """Every email and SMS moto recorded as sent, newest first.

        Read from moto's in-process backends (the server runs in this process), not from
        /moto-api/data.json: that dumps every backend, the whole table included, and grows slow."""
        from moto.ses.models import ses_backends
        from moto.sns.models import sns_backends

        items: list[dict[str, Any]] = []
        for m in list(ses_backends[ACCOUNT][REGION].sent_messages):
            destinations = getattr(m, "destinations", {}) or {}
            to = destinations.get("ToAddresses", []) if isinstance(destinations, dict) else list(destinations)
            items.append(
                {
                    "id": m.id,
                    "channel": "email",
                    "to": ", ".join(to),
                    "from": getattr(m, "source", ""),
                    "subject": getattr(m, "subject", ""),
                    "body": getattr(m, "body", None) or getattr(m, "raw_data", ""),
                }
            )
        for message_id, (phone, text) in list(sns_backends[ACCOUNT][REGION].sms_messages.items()):
            items.append({"id": message_id, "channel": "sms", "to": phone, "subject": "", "body": text})
        now = time.time()
        with self._outbox_lock:
            for position, item in enumerate(items):
                # moto keeps no send time; the first time the outbox sees a message stands in for it.
                seen = self._outbox_seen.setdefault(item["id"], now + position * 1e-6)
                item["seen_at"] = datetime.fromtimestamp(seen, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return sorted(items, key=lambda i: i["seen_at"], reverse=True)

    def text_practice(self, sender: str, text: str, practice_id: str = "") -> dict[str, Any]:
        """An SMS from ``sender`` to the practice's number (the demo practice unless named), delivered to the
        inbound-SMS handler as the SNS topic would deliver it: the way to try C, STOP, CANCEL, START or HELP
        locally. Returns the handler's answer (``outcome``: the intent acted on, or why nothing was done)."""
        import app as app_module
        from chalicelib.practices.store import PracticeStore

        practice = PracticeStore().get(practice_id or getattr(self.demo, "practice_id", ""))
        if practice is None:
            return {"status": 404, "outcome": "no_practice"}
        message = {
            "originationNumber": sender,
            "destinationNumber": str(practice.settings.get("sms_number") or practice.phone),
            "messageBody": text,
            "inboundMessageId": str(uuid.uuid4()),
        }
        topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:chairside-local-inbound-sms"
        record = {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": f"{topic}:{uuid.uuid4()}",
            "Sns": {
                "Type": "Notification",
                "MessageId": str(uuid.uuid4()),
                "TopicArn": topic,
                "Subject": None,
                "Message": json.dumps(message),
                "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "MessageAttributes": {},
            },
        }
        answer: dict[str, Any] = app_module.inbound_sms({"Records": [record]}, _LambdaContext("inbound_sms"))
        return answer

    def latest_code(self, contact: str) -> str:
        """The newest one-time code sent to a phone or email (for tests and demos)."""
        import re

        for item in self.outbox():
            if item["to"] == contact:
                found = re.search(r"\b(\d{6})\b", item["body"])
                if found:
                    return found.group(1)
        raise LookupError("no code has been sent to that contact")

    def web_config(self) -> dict[str, Any]:
        return {
            "apiBase": self.api_url,
            "practiceId": getattr(self.demo, "practice_id", ""),
            "local": True,
            "stripePublishableKey": os.environ.get("STRIPE_PUBLISHABLE_KEY", ""),
            "stripeJs": f"{self.stripe_url}/js.stripe.com/v3/",
        }

    def page_headers(self) -> dict[str, str]:
        """The pages' security headers as CloudFront sends them, with the local origins (no HSTS: plain HTTP)."""
        from chalicelib.platform.headers import content_security_policy, localstripe_sources, page_headers

        csp = content_security_policy(
            api_origins=(self.api_url,), stripe=localstripe_sources(self.stripe_url), image_origins=(self.moto_url,)
        )
        return page_headers(csp, production=False)


class _WebHandler(SimpleHTTPRequestHandler):
    owner: LocalStack

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(WEB_ROOT), **kwargs)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self.send_response(302)
            self.send_header("Location", "/patient/")
            self.end_headers()
        elif path == "/config.js":
            body = f"window.CHAIRSIDE_CONFIG = {json.dumps(self.owner.web_config())};\n"
            self._send(body.encode(), "application/javascript")
        elif path == "/outbox.json":
            self._send(json.dumps({"messages": self.owner.outbox()}).encode(), "application/json")
        else:
            super().do_GET()

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/outbox/reply":
            self.send_error(404)
            return
        try:
            length = min(int(self.headers.get("Content-Length") or 0), 8192)
            body = json.loads(self.rfile.read(length) or b"{}")
        except (ValueError, UnicodeDecodeError):
            body = None
        sender = body.get("from") if isinstance(body, dict) else None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(sender, str) or not isinstance(text, str) or not sender.strip() or not text.strip():
            error = {"error": {"code": "invalid", "message": "from (a phone number) and text are required"}}
            self._send(json.dumps(error).encode(), "application/json", 422)
            return
        answer = self.owner.text_practice(sender.strip(), text[:1600])
        self._send(json.dumps(answer).encode(), "application/json")

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        for name, value in self.owner.page_headers().items():
            self.send_header(name, value)
        super().end_headers()

    def _send(self, body: bytes, content_type: str, status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class _LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:chairside-local-{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _quiet_disconnects(server: Any) -> None:
    """A browser that closes a connection mid-answer (a page left, a poll cut short) is not an error:
    socketserver would print a BrokenPipe traceback for each; anything else is still printed."""
    original = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        original(request, client_address)

    server.handle_error = handle_error


def _silent(*_args: Any, **_kwargs: Any) -> None:
    return


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the child when this process dies, so nothing is orphaned."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _port_is_free(port: int) -> bool:
    """Free to listen on, as the servers bind (SO_REUSEADDR): connections a stack just closed linger in
    TIME_WAIT for a minute and must not stop `make run` from starting again; a listener still does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_for_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up within {timeout:.0f}s") from None
            time.sleep(0.1)
