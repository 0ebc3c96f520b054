"""The sales manager's dashboard in a real browser: headless Chromium (Debian's `chromium`
package) opens the page served by audit, signs in with a manager key, and every chart renders
with data (Chart.js, served by audit), the tables fill and fit or scroll, the numbers read as a
manager reads them (SLA shares that agree, durations in units that fit, funnel stages in
words with the disqualified leads, won deals at their amount), a lead's story can be traced
by email or company, and the console stays free of errors. A screenshot is kept in the
test's directory; set LEADFARM_DASHBOARD_SCREENSHOT to a path (docs/dashboard.png) to keep it
there.

Chromium is driven through the DevTools protocol over a pipe (`--remote-debugging-pipe`,
file descriptors 3 and 4), so no port is opened and no extra library is needed. The test
installs nothing: without Chromium it skips, or fails under CI=true (tests/infra.py). One
server with one seeded quarter serves every test of the module.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn

from contracts.envelope import Envelope
from contracts.events import (
    EVENT_TYPES,
    ContactLogged,
    Decision,
    EventData,
    LeadAssigned,
    LeadCaptured,
    LeadDeferred,
    LeadDisqualified,
    LeadProfile,
    LeadQualified,
    OpportunityClosed,
    SlaBreached,
    make_envelope,
)
from contracts.topics import SERVICES
from services.app import create_app
from services.runtime import Runtime, embedded_runtime
from tests import infra
from tests.backends import ADMIN, EmbeddedBackend, leadfarm_test_settings
from tests.e2e.processes import free_port
from tests.scenarios.audit import archived, put_on_audit_topic

pytestmark = pytest.mark.e2e

T = TypeVar("T")
CHARTS = ("funnel", "source-mix", "ttft", "sla", "forecast", "audits")


# --- a Leadfarm served over HTTP, in a thread with its own event loop -----------------------


class Served:
    """`create_app` under uvicorn on a real port (the browser needs one), all five services
    on the embedded runtime. Coroutines that seed data run on the server's loop."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = leadfarm_test_settings(data_dir=data_dir)
        self.runtime: Runtime = embedded_runtime(self.settings)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._started = threading.Event()

        async def started() -> None:
            self.loop = asyncio.get_running_loop()
            self._started.set()

        self.app = create_app(self.runtime, on_started=started)
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 60
        # The lifespan (the runtime) starts first, then uvicorn listens.
        while not (self._started.is_set() and self.server.started):
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("Leadfarm did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def backend(self) -> EmbeddedBackend:
        """The test interface on this server's runtime (call on the server's loop)."""
        backend = EmbeddedBackend.__new__(EmbeddedBackend)
        backend.settings = self.settings
        backend.runtime = self.runtime
        backend.runtimes = dict.fromkeys(SERVICES, self.runtime)
        client = httpx.AsyncClient(base_url=self.base, timeout=30)
        backend.clients = dict.fromkeys(SERVICES, client)
        return backend


# --- a plausible quarter of leads -----------------------------------------------------------

SOURCES = {
    "google-ads": "marketing",
    "newsletter": "marketing",
    "linkedin": "marketing",
    "trade-show": "events",
    "webinar": "events",
    "partners": "referrals",
    "customers": "referrals",
    "outbound": "rep_prospecting",
}
SOURCE_WEIGHTS = (22, 10, 12, 10, 8, 7, 5, 8)
# Minutes to first touch: (low, high, share never touched) per rep.
REPS = {"ana": (1, 4, 0.0), "bo": (2, 9, 0.05), "chen": (4, 30, 0.15), "dara": (1, 6, 0.3)}
ACCEPTED = "leadfarm.lead.accepted.v1"


def decision(stage: str, term: str, score: int) -> Decision:
    return Decision.model_validate(
        {
            "lifecycle": "prospect" if stage == "sales_qualified" else "suspect",
            "stage": stage,
            "term": term,
            "score": score,
            "definition_version": "demo-1",
        }
    )


def demo_events(now: datetime, seed: int = 7) -> tuple[list[Envelope], list[str]]:
    """Twelve weeks of leads with their stories, oldest first, and the ids of a few
    sales-qualified leads (to audit and to trace)."""
    rng = random.Random(seed)
    start = (now - timedelta(weeks=12)).replace(hour=8, minute=0, second=0, microsecond=0)
    out: list[tuple[datetime, EventData | Envelope]] = []
    qualified: list[str] = []
    reps = list(REPS)
    for n in range(150):
        captured = start + timedelta(minutes=rng.randrange(0, 12 * 7 * 24 * 60))
        source = rng.choices(list(SOURCES), SOURCE_WEIGHTS)[0]
        lead_id = str(uuid.UUID(int=rng.getrandbits(128)))
        profile = LeadProfile(
            source=source,
            source_class=SOURCES[source],  # type: ignore[arg-type]
            timeframe_days=rng.choice([14, 30, 45, 60, 90, 120, 200]),
            email=f"demo{n}@example.com",
            company=f"Demo Company {n}",
        )
        out.append((captured, LeadCaptured(lead_id=lead_id, delivery_id=f"d{n}", lead=profile)))
        decided = captured + timedelta(seconds=1)
        roll = rng.random()
        if roll < 0.15:
            out.append(
                (
                    decided,
                    LeadDisqualified(lead_id=lead_id, reason="free mail", definition_version="d"),
                )
            )
            continue
        if roll < 0.45:
            out.append(
                (
                    decided,
                    LeadDeferred(
                        lead_id=lead_id,
                        decision=decision("basic_qualified", "long", 45),
                        lead=profile,
                    ),
                )
            )
            continue
        qualified.append(lead_id)
        out.append(
            (
                decided,
                LeadQualified(
                    lead_id=lead_id, decision=decision("sales_qualified", "short", 80), lead=profile
                ),
            )
        )
        rep = reps[n % len(reps)]
        assigned = decided + timedelta(seconds=2)
        due = assigned + timedelta(minutes=5)
        out.append(
            (
                assigned,
                LeadAssigned(
                    lead_id=lead_id,
                    assignment_id=f"a{n}",
                    rep_id=rep,
                    rep_name=rep.title(),
                    pool="everyone",
                    rule="default",
                    strategy="round_robin",
                    first_touch_due_at=due,
                ),
            )
        )
        low, high, never = REPS[rep]
        if rng.random() < never:
            out.append(
                (due, SlaBreached(lead_id=lead_id, rep_id=rep, sla="first_touch", due_at=due))
            )
            continue
        touched = assigned + timedelta(minutes=rng.uniform(low, high))
        if touched > due:
            out.append(
                (due, SlaBreached(lead_id=lead_id, rep_id=rep, sla="first_touch", due_at=due))
            )
        out.append(
            (
                touched,
                ContactLogged(
                    lead_id=lead_id,
                    activity_id=f"c{n}",
                    rep_id=rep,
                    channel="call",
                    outcome="connected",
                    at=touched,
                ),
            )
        )
        if rng.random() < 0.3:
            continue
        if ACCEPTED in EVENT_TYPES:
            accepted = touched + timedelta(hours=1)
            out.append(
                (
                    accepted,
                    Envelope(
                        source="/leadfarm/router",
                        type=ACCEPTED,
                        time=accepted,
                        subject=lead_id,
                        data={
                            "lead_id": lead_id,
                            "assignment_id": f"a{n}",
                            "rep_id": rep,
                            "at": accepted.isoformat(),
                        },
                    ),
                )
            )
        if rng.random() < 0.45:
            continue
        closed = captured + timedelta(days=rng.uniform(6, 40))
        if closed < now:
            out.append(
                (
                    closed,
                    OpportunityClosed(
                        lead_id=lead_id,
                        opportunity_id=f"o{n}",
                        rep_id=rep,
                        won=rng.random() < 0.55,
                        amount=Decimal(rng.randrange(8, 45) * 1000),
                        lead=profile,
                    ),
                )
            )
    out.sort(key=lambda pair: pair[0])
    envelopes = [
        item if isinstance(item, Envelope) else make_envelope(item, time=when) for when, item in out
    ]
    return envelopes, qualified


def month_start(now: datetime, back: int) -> datetime:
    """The first of the month `back` months before `now`'s, 08:00 UTC."""
    index = now.year * 12 + now.month - 1 - back
    return datetime(index // 12, index % 12 + 1, 1, 8, tzinfo=UTC)


def worked_lead(
    lead_id: str,
    n: int,
    captured: datetime,
    rep: str,
    touch_after: timedelta | None,
    sla: timedelta = timedelta(minutes=5),
    email: str | None = None,
    company: str | None = None,
) -> list[tuple[datetime, EventData]]:
    """A sales-qualified lead assigned to `rep` 2 s after capture, touched `touch_after`
    later (or never), with a first-touch deadline `sla` after the assignment."""
    profile = LeadProfile(
        source="google-ads",
        source_class="marketing",
        timeframe_days=30,
        email=email,
        company=company,
    )
    assigned = captured + timedelta(seconds=2)
    due = assigned + sla
    out: list[tuple[datetime, EventData]] = [
        (captured, LeadCaptured(lead_id=lead_id, delivery_id=f"x{n}", lead=profile)),
        (
            captured + timedelta(seconds=1),
            LeadQualified(
                lead_id=lead_id, decision=decision("sales_qualified", "short", 80), lead=profile
            ),
        ),
        (
            assigned,
            LeadAssigned(
                lead_id=lead_id,
                assignment_id=f"x{n}",
                rep_id=rep,
                rep_name=rep.title(),
                pool="everyone",
                rule="default",
                strategy="round_robin",
                first_touch_due_at=due,
            ),
        ),
    ]
    if touch_after is not None:
        touched = assigned + touch_after
        out.append(
            (
                touched,
                ContactLogged(
                    lead_id=lead_id,
                    activity_id=f"xc{n}",
                    rep_id=rep,
                    channel="call",
                    outcome="connected",
                    at=touched,
                ),
            )
        )
    return out


@dataclass(frozen=True)
class Seeded:
    key: str
    lead_id: str  # a demo lead
    traced: str  # the lead traced by email and company
    seconds_month: str  # leads touched within seconds
    hours_month: str  # leads touched after hours
    won_total: Decimal  # every won deal's amount
    pending: int  # assignments not yet due


TRACED_EMAIL, TRACED_COMPANY = "Jo.Pine@Northwind.example", "Northwind Timber"
TRACED_WON = Decimal("23456")


def extra_events(now: datetime) -> tuple[list[Envelope], str]:
    """Beside the quarter: a month whose leads were touched in seconds and one in hours (to
    read the time-to-first-touch axis at both scales), three assignments not yet due, and
    one lead to trace by its email and company (assigned to Ana, touched, won)."""
    out: list[tuple[datetime, EventData]] = []
    rng = random.Random(11)
    for back, low, high in ((7, 5, 40), (8, 2 * 3600, 20 * 3600)):
        first = month_start(now, back)
        for n in range(8):
            lead_id = str(uuid.UUID(int=rng.getrandbits(128)))
            after = timedelta(seconds=rng.uniform(low, high))
            captured = first + timedelta(days=2 + n)
            out += worked_lead(lead_id, back * 100 + n, captured, "ana" if n % 2 else "bo", after)
    for n, rep in enumerate(("chen", "dara", "ana")):
        lead_id = str(uuid.UUID(int=rng.getrandbits(128)))
        captured = now - timedelta(minutes=5 + n)
        out += worked_lead(lead_id, 900 + n, captured, rep, None, sla=timedelta(hours=2))
    traced = str(uuid.UUID(int=rng.getrandbits(128)))
    captured = (now - timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)
    out += worked_lead(
        traced,
        999,
        captured,
        "ana",
        timedelta(seconds=6),
        email=TRACED_EMAIL,
        company=TRACED_COMPANY,
    )
    profile = LeadProfile(
        source="google-ads", source_class="marketing", email=TRACED_EMAIL, company=TRACED_COMPANY
    )
    out.append(
        (
            captured + timedelta(days=2),
            OpportunityClosed(
                lead_id=traced,
                opportunity_id="o-traced",
                rep_id="ana",
                won=True,
                amount=TRACED_WON,
                lead=profile,
            ),
        )
    )
    out.sort(key=lambda pair: pair[0])
    return [make_envelope(item, time=when) for when, item in out], traced


def won_total(envelopes: list[Envelope]) -> Decimal:
    total = Decimal(0)
    for envelope in envelopes:
        if envelope.type == OpportunityClosed.TYPE and envelope.data["won"]:
            total += Decimal(str(envelope.data["amount"]))
    return total


async def seed(served: Served, now: datetime) -> Seeded:
    """Load the demo quarter and the extra events; returns what the tests look for."""
    backend = served.backend()
    http = backend.client("audit")
    try:
        demo, qualified = demo_events(now)
        extra, traced = extra_events(now)
        envelopes = demo + extra
        await put_on_audit_topic(backend, envelopes)
        await archived(backend, envelopes)
        months = sorted({e.time.strftime("%Y-%m") for e in envelopes})
        for source in SOURCES:
            if source == "outbound":
                continue  # reps' time is not entered as spend
            for month in months:
                amount = {"marketing": 2500, "events": 6000, "referrals": 800}[SOURCES[source]]
                response = await http.put(
                    f"/audit/v1/spend/{source}/{month}", json={"amount": amount}, headers=ADMIN
                )
                assert response.status_code == 201, response.text
        rng = random.Random(3)
        for lead_id in qualified[::4]:
            opened = await http.post("/audit/v1/audits", json={"lead_id": lead_id}, headers=ADMIN)
            assert opened.status_code == 201, opened.text
            contacted = rng.random() < 0.8
            said: dict[str, Any] = {
                "contacted": contacted,
                "satisfaction": rng.choice([3, 4, 4, 5, 5]) if contacted else rng.choice([1, 2]),
                "outcome": rng.choice(
                    ["still_evaluating", "bought_from_us", "bought_from_competitor", "no_decision"]
                ),
            }
            if contacted:
                said |= {"contact_count": rng.randint(1, 4), "contacted_within": "hour"}
            recorded = await http.post(
                f"/audit/v1/audits/{opened.json()['id']}/outcome", json=said, headers=ADMIN
            )
            assert recorded.status_code == 200, recorded.text
        key = await http.post(
            "/admin/v1/keys", json={"name": "sales manager", "scope": "manager"}, headers=ADMIN
        )
        assert key.status_code == 201, key.text
        return Seeded(
            key=str(key.json()["key"]),
            lead_id=qualified[0],
            traced=traced,
            seconds_month=month_start(now, 7).strftime("%Y-%m"),
            hours_month=month_start(now, 8).strftime("%Y-%m"),
            won_total=won_total(envelopes),
            pending=3,
        )
    finally:
        await http.aclose()


# --- Chromium over the DevTools protocol ------------------------------------------------------


class Chromium:
    """Headless Chromium driven through `--remote-debugging-pipe`: commands are written to its
    file descriptor 3 and answers and events read from 4, each a JSON message ended by NUL."""

    def __init__(self, binary: str, workdir: Path) -> None:
        command_read, self._command_write = os.pipe()
        self._answer_read, answer_write = os.pipe()
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={workdir / 'profile'}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self._log = (workdir / "chromium.log").open("wb")
        # bash puts the pipes on descriptors 3 and 4, then becomes Chromium (dash cannot
        # redirect descriptors above 9).
        self.proc = subprocess.Popen(
            [
                shutil.which("bash") or "/bin/bash",
                "-c",
                f'exec "$0" "$@" 3<&{command_read} 4>&{answer_write}',
                *args,
            ],
            pass_fds=(command_read, answer_write),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        os.close(command_read)
        os.close(answer_write)
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._closed = False
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._answer_read, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self._changed:
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        try:
            os.write(self._command_write, json.dumps(message).encode() + b"\0")
        except BrokenPipeError as exc:
            raise RuntimeError(f"Chromium is gone (see chromium.log); {method} not sent") from exc
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._next_id not in self._answers:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise RuntimeError(f"Chromium did not answer {method}")
                self._changed.wait(left)
            answer = self._answers.pop(self._next_id)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def close(self) -> None:
        try:
            with contextlib.suppress(RuntimeError):
                self.send("Browser.close", timeout=5)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        finally:
            os.close(self._command_write)
            self._reader.join(timeout=5)
            os.close(self._answer_read)
            self._log.close()


class Page:
    def __init__(self, browser: Chromium, width: int = 1440, height: int = 1000) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.resize(width, height)

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session)

    def resize(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def evaluate(self, expression: str) -> Any:
        answer = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"{expression!r} raised {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"{expression!r} still {value!r} after {timeout}s")

    def screenshot(self, path: Path) -> None:
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        width = int(self.evaluate("document.documentElement.clientWidth"))
        self.resize(width, height)
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def requests_sent(self) -> list[str]:
        """The URLs this page asked for (documents, scripts, styles, images, fetches)."""
        return [
            e["params"]["request"]["url"]
            for e in self.browser.events
            if e.get("sessionId") == self.session and e["method"] == "Network.requestWillBeSent"
        ]

    def requests_elsewhere(self, origin: str, settle_s: float = 2.0) -> list[str]:
        """The URLs this page sent anywhere but `origin` (`data:` and `blob:` are no
        requests). A request the page's Content-Security-Policy blocks is announced too
        (`Network.requestWillBeSent`), then fails with a `blockedReason` and never leaves
        the browser: such a request is waited for, up to `settle_s`, and not counted."""
        deadline = time.monotonic() + settle_s
        while True:
            mine = [e for e in self.browser.events if e.get("sessionId") == self.session]
            elsewhere = {
                e["params"]["requestId"]: e["params"]["request"]["url"]
                for e in mine
                if e["method"] == "Network.requestWillBeSent"
                and not e["params"]["request"]["url"].startswith((origin + "/", "data:", "blob:"))
            }
            ended = {
                e["params"]["requestId"]: e["params"].get("blockedReason")
                for e in mine
                if e["method"] in ("Network.loadingFailed", "Network.loadingFinished")
            }
            if elsewhere.keys() <= ended.keys() or time.monotonic() > deadline:
                return [url for rid, url in elsewhere.items() if not ended.get(rid)]
            time.sleep(0.05)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen on this page."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"{params['entry']['source']}: {params['entry']['text']}")
        return found


@pytest.fixture
def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        infra.unavailable("Chromium (the Debian package `chromium`)")
    assert binary is not None
    return binary


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Seeded]]:
    """One Leadfarm with the seeded quarter for every test of the module (seeding takes the
    longest)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LEADFARM_AUDIT_MIN_WON_DEALS", "5")
        env.setenv("LEADFARM_AUDIT_SAMPLE_RATE", "0")
        with Served(tmp_path_factory.mktemp("dashboard") / "data") as running:
            yield running, running.run(seed(running, datetime.now(UTC)))


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Chromium]:
    running = Chromium(chromium, tmp_path)
    try:
        yield running
    finally:
        running.close()


def open_board(
    browser: Chromium, served: Served, key: str, width: int = 1440, zone: str | None = None
) -> Page:
    """A page signed in with `key` the way a manager does (typed into the form), loaded."""
    page = Page(browser, width=width)
    if zone is not None:
        page.send("Emulation.setTimezoneOverride", {"timezoneId": zone})
    page.send("Page.navigate", {"url": f"{served.base}/audit/v1/dashboard"})
    page.wait_for("document.readyState === 'complete' && document.body.dataset.state")
    assert page.evaluate("document.body.dataset.state") == "signed-out"
    type_key(page, key)
    state = page.wait_for(
        "['ready', 'error', 'signed-out'].includes(document.body.dataset.state)"
        " && document.body.dataset.state"
    )
    assert state == "ready", page.evaluate("document.getElementById('status').textContent")
    return page


def type_key(page: Page, key: str) -> None:
    page.evaluate(
        "(() => { document.getElementById('key').value = "
        + json.dumps(key)
        + "; document.getElementById('key-form').requestSubmit(); return true; })()"
    )


def chart(page: Page, chart_id: str) -> dict[str, Any]:
    """What Chart.js drew in a chart box: labels, datasets, and each scale's tick labels."""
    found: dict[str, Any] = json.loads(
        page.evaluate(
            "(() => { const c = Chart.getChart(document.querySelector('#" + chart_id + " canvas'));"
            " if (!c) { return 'null'; }"
            " return JSON.stringify({labels: c.data.labels, datasets: c.data.datasets.map("
            " d => ({label: d.label, data: d.data})), ticks: Object.fromEntries("
            " Object.entries(c.scales).map(([k, s]) => [k, s.ticks.map(t => t.label)])),"
            " titles: Object.fromEntries(Object.entries(c.scales).map("
            " ([k, s]) => [k, s.options.title.display ? s.options.title.text : null]))}); })()"
        )
    )
    assert found is not None, f"{chart_id} has no chart"
    return found


def column(page: Page, table_id: str, title: str) -> dict[str, str]:
    """A table's column by its header, keyed by the first column."""
    cells: dict[str, str] = json.loads(
        page.evaluate(
            "(() => { const t = document.getElementById('" + table_id + "');"
            " const i = [...t.tHead.rows[0].cells].findIndex(c => c.textContent === "
            + json.dumps(title)
            + "); return JSON.stringify(Object.fromEntries([...t.tBodies[0].rows].map("
            " r => [r.cells[0].textContent, r.cells[i].textContent]))); })()"
        )
    )
    return cells


def apply_period(page: Page, first: str, last: str) -> None:
    page.evaluate(
        "(() => { document.getElementById('from').value = '" + first + "';"
        " document.getElementById('to').value = '" + last + "';"
        " document.getElementById('period-form').requestSubmit(); return true; })()"
    )
    page.wait_for("document.body.dataset.state === 'loading'", timeout=5)
    state = page.wait_for(
        "['ready', 'error'].includes(document.body.dataset.state) && document.body.dataset.state"
    )
    assert state == "ready", page.evaluate("document.getElementById('status').textContent")


def test_the_dashboard_renders_every_chart_with_data_and_no_console_errors(
    browser: Chromium, seeded: tuple[Served, Seeded], tmp_path: Path
) -> None:
    served, facts = seeded
    url = f"{served.base}/audit/v1/dashboard"
    page = open_board(browser, served, facts.key)
    assert page.evaluate("location.href") == url, "the key never goes into the URL"
    for name in CHARTS:
        drawn = chart(page, f"chart-{name}")
        values = [v for d in drawn["datasets"] for v in d["data"] if v]
        assert values, f"chart {name} has no data: {drawn}"
        assert int(page.evaluate(f"document.getElementById('chart-{name}').dataset.points")) > 0
    rows = json.loads(
        page.evaluate(
            "JSON.stringify(['table-sources', 'table-reps'].map("
            "id => document.getElementById(id).tBodies[0].rows.length))"
        )
    )
    assert rows[0] == len(SOURCES)
    assert rows[1] == len(REPS)
    assert "google-ads" in page.evaluate("document.getElementById('table-sources').innerText")

    # Trace one lead's story by its id, event by event.
    trace(page, facts.lead_id)
    story = page.evaluate("document.getElementById('trace').innerText")
    assert "lead.captured.v1" in story
    assert "lead.qualified.v1" in story
    assert "forecast.changed.v1" in story

    page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path / "dashboard.png"
    page.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("LEADFARM_DASHBOARD_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
    assert page.errors() == []


def test_the_sla_chart_and_the_reps_table_give_one_number_and_say_what_is_pending(
    browser: Chromium, seeded: tuple[Served, Seeded]
) -> None:
    served, facts = seeded
    page = open_board(browser, served, facts.key)
    drawn = chart(page, "chart-sla")
    in_chart = {
        rep: f"{round(share * 100)}%"
        for rep, share in zip(drawn["labels"], drawn["datasets"][0]["data"], strict=True)
    }
    in_table = column(page, "table-reps", "Within SLA")
    assert in_chart == in_table, "the chart and the table must say the same share"
    assert len(set(in_chart.values())) > 1, in_chart  # not 100% for everyone
    pending = column(page, "table-reps", "Not yet due")
    assert sum(int(v or 0) for v in pending.values()) == facts.pending
    note = page.evaluate("document.getElementById('note-sla').textContent")
    assert f"{facts.pending} not yet due" in note
    assert "deadline has passed" in note
    assert page.errors() == []


def test_time_to_first_touch_reads_in_seconds_or_hours_as_the_data_needs(
    browser: Chromium, seeded: tuple[Served, Seeded]
) -> None:
    served, facts = seeded
    page = open_board(browser, served, facts.key)
    for month, unit, short in (
        (facts.seconds_month, "seconds", "s"),
        (facts.hours_month, "hours", "h"),
    ):
        apply_period(page, month, month)
        drawn = chart(page, "chart-ttft")
        ticks = drawn["ticks"]["y"]
        assert drawn["titles"]["y"] == unit, drawn
        assert all(t.endswith(f" {short}") for t in ticks), ticks
        assert len(set(ticks)) == len(ticks), f"repeated tick labels: {ticks}"
        numbers = [float(t.split()[0].replace(",", "")) for t in ticks]
        assert max(numbers) >= 2, f"{unit} too large a unit for these ticks: {ticks}"
        for cell in column(page, "table-reps", "First touch p50").values():
            assert cell.endswith(f" {short}"), cell
    assert page.errors() == []


def test_the_funnel_names_its_stages_in_words_and_shows_the_disqualified(
    browser: Chromium, seeded: tuple[Served, Seeded]
) -> None:
    served, facts = seeded
    page = open_board(browser, served, facts.key)
    drawn = chart(page, "chart-funnel")
    assert drawn["labels"] == [
        "All leads",
        "Basic qualified",
        "Sales qualified",
        "Accepted by a rep",
        "Opportunity",
        "Won",
        "Disqualified",
    ]
    shown = [" ".join(t) if isinstance(t, list) else t for t in drawn["ticks"]["x"]]
    assert shown == drawn["labels"], "every stage is labelled on the axis"
    disqualified = sum(d["data"][-1] for d in drawn["datasets"])
    assert disqualified > 0
    assert f"{disqualified} disqualified" in page.evaluate(
        "document.getElementById('note-funnel').textContent"
    )
    assert [d["label"] for d in drawn["datasets"]][:2] == ["Marketing", "Events"]


def test_a_won_deal_counts_at_its_amount_in_the_forecast(
    browser: Chromium, seeded: tuple[Served, Seeded]
) -> None:
    served, facts = seeded
    page = open_board(browser, served, facts.key)
    drawn = chart(page, "chart-forecast")
    won = next(d for d in drawn["datasets"] if d["label"].startswith("Won"))
    assert Decimal(str(sum(won["data"]))) == facts.won_total
    assert all(t.startswith("$") for t in drawn["ticks"]["y"]), drawn["ticks"]["y"]
    note = page.evaluate("document.getElementById('note-forecast').textContent")
    assert f"${facts.won_total:,.0f}" in note


def test_the_page_fits_a_narrow_screen_and_its_tables_scroll_inside_their_cards(
    browser: Chromium, seeded: tuple[Served, Seeded], tmp_path: Path
) -> None:
    served, facts = seeded
    for width in (1024, 390):
        page = open_board(browser, served, facts.key, width=width)
        page.screenshot(tmp_path / f"dashboard-{width}.png")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the page is {overflow}px wider than a {width}px screen"
        for table_id in ("table-sources", "table-reps"):
            fits = page.evaluate(
                "(() => { const box = document.getElementById('" + table_id + "').parentElement;"
                " return box.scrollWidth <= box.clientWidth"
                " || getComputedStyle(box).overflowX === 'auto'; })()"
            )
            assert fits, f"{table_id} neither fits nor scrolls at {width}px"


def trace(page: Page, text: str) -> None:
    page.evaluate(
        "(() => { document.getElementById('trace-id').value = "
        + json.dumps(text)
        + "; document.getElementById('trace-form').requestSubmit(); return true; })()"
    )
    page.wait_for("document.querySelectorAll('#trace li').length >= 4")


def test_a_lead_is_traced_by_email_or_company_with_rep_names_and_zoned_times(
    browser: Chromium, seeded: tuple[Served, Seeded]
) -> None:
    served, facts = seeded
    page = open_board(browser, served, facts.key, zone="Europe/Berlin")
    for text in (TRACED_EMAIL.upper(), "northwind"):
        page.evaluate("document.getElementById('trace').replaceChildren() || true")
        trace(page, text)
        head = page.evaluate("document.getElementById('trace-lead').innerText")
        assert "jo.pine@northwind.example" in head
        assert "Northwind Timber" in head
        assert "assigned to Ana" in head
        assert facts.traced in head
        assert "Times are in Europe/Berlin" in head
    story = json.loads(
        page.evaluate(
            "JSON.stringify([...document.querySelectorAll('#trace li')].map(li => ["
            "li.querySelector('time').getAttribute('datetime'),"
            " li.querySelector('time').textContent, li.textContent]))"
        )
    )
    for utc, shown, _ in story:
        local = datetime.fromisoformat(utc).astimezone(ZoneInfo("Europe/Berlin"))
        offset = int(local.utcoffset().total_seconds() // 3600)  # type: ignore[union-attr]
        assert shown == local.strftime("%Y-%m-%d %H:%M:%S") + f" GMT+{offset}", (utc, shown)
    text = "\n".join(line for _, _, line in story)
    assert "rep Ana" in text, text
    assert "rep ana" not in text
    assert f"amount ${TRACED_WON:,.0f}" in text, text
    assert page.errors() == []


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 321, id="too-long"),
    ],
)
def test_a_bad_search_says_what_is_wrong(
    browser: Chromium, seeded: tuple[Served, Seeded], bad: str
) -> None:
    served, facts = seeded
    page = open_board(browser, served, facts.key)
    page.evaluate(
        "(() => { document.getElementById('trace-id').removeAttribute('maxlength');"
        " return true; })()"
    )
    page.evaluate(
        "(() => { document.getElementById('trace-id').value = "
        + json.dumps(bad or " ")
        + "; document.getElementById('trace-form').requestSubmit(); return true; })()"
    )
    if not bad:  # nothing typed: nothing asked
        time.sleep(0.3)
        assert page.evaluate("document.getElementById('trace-matches').children.length") == 0
        return
    message = page.wait_for("document.querySelector('#trace-matches .error')?.textContent")
    assert "at most 320 characters" in message


def test_an_unknown_key_and_a_rep_key_are_told_apart_at_sign_in(
    browser: Chromium, seeded: tuple[Served, Seeded]
) -> None:
    served, _ = seeded

    async def rep_key() -> str:
        async with httpx.AsyncClient(base_url=served.base) as http:
            response = await http.post(
                "/admin/v1/keys",
                json={"name": "ana", "scope": "rep", "rep_id": "ana"},
                headers=ADMIN,
            )
            return str(response.json()["key"])

    messages = {}
    for name, key in (("unknown", "lf_not_a_key_anyone_made"), ("rep", served.run(rep_key()))):
        page = Page(browser)
        page.send("Page.navigate", {"url": f"{served.base}/audit/v1/dashboard"})
        page.wait_for("document.readyState === 'complete' && document.body.dataset.state")
        type_key(page, key)
        messages[name] = page.wait_for(
            "!document.getElementById('sign-in-error').hidden"
            " && document.getElementById('sign-in-error').textContent"
        )
        assert page.evaluate("sessionStorage.length") == 0, "a refused key is forgotten"
    assert messages["unknown"] != messages["rep"]
    assert "unknown or has been revoked" in messages["unknown"]
    assert "a rep key" in messages["rep"]
    assert "manager key" in messages["rep"]
