"""The sales manager's dashboard in a real browser: headless Chromium (Debian's `chromium`
package) opens the page served by audit, signs in with a manager key, and every chart renders
with data, the tables fill, a lead's story can be traced, and the console stays free of
errors. A screenshot is kept in the test's directory; set LEADFARM_DASHBOARD_SCREENSHOT to a
path (docs/dashboard.png) to keep it there.

Chromium is driven through the DevTools protocol over a pipe (`--remote-debugging-pipe`,
file descriptors 3 and 4), so no port is opened and no extra library is needed. The test
installs nothing: without Chromium it skips, or fails under CI=true (tests/infra.py).
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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

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
from tests.unit.audit.scenario import archived, put_on_audit_topic

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


async def seed(served: Served, now: datetime) -> tuple[str, str]:
    """Load the demo quarter; returns a manager key and a lead id to trace."""
    backend = served.backend()
    http = backend.client("audit")
    try:
        envelopes, qualified = demo_events(now)
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
        return str(key.json()["key"]), qualified[0]
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


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("LEADFARM_AUDIT_MIN_WON_DEALS", "5")
    monkeypatch.setenv("LEADFARM_AUDIT_SAMPLE_RATE", "0")
    with Served(tmp_path / "data") as running:
        yield running


def test_the_dashboard_renders_every_chart_with_data_and_no_console_errors(
    chromium: str, served: Served, tmp_path: Path
) -> None:
    key, lead_id = served.run(seed(served, datetime.now(UTC)))
    url = f"{served.base}/audit/v1/dashboard"
    browser = Chromium(chromium, tmp_path)
    try:
        page = Page(browser)
        page.send("Page.navigate", {"url": url})
        page.wait_for("document.readyState === 'complete' && document.body.dataset.state")
        assert page.evaluate("document.body.dataset.state") == "signed-out"
        assert page.evaluate("document.getElementById('board').hidden") is True

        # Sign in the way a manager does: the key typed into the page's form.
        page.evaluate(
            "(() => { document.getElementById('key').value = "
            + json.dumps(key)
            + "; document.getElementById('key-form').requestSubmit(); return true; })()"
        )
        state = page.wait_for(
            "['ready', 'error'].includes(document.body.dataset.state)"
            " && document.body.dataset.state"
        )
        assert state == "ready", page.evaluate("document.getElementById('status').textContent")
        assert page.evaluate("location.href") == url, "the key never goes into the URL"

        charts = json.loads(
            page.evaluate(
                "JSON.stringify(Object.fromEntries([...document.querySelectorAll('.chart')]"
                ".map(c => [c.id, [Number(c.dataset.points || 0),"
                " c.querySelectorAll('svg rect.bar').length]])))"
            )
        )
        for chart in CHARTS:
            points, bars = charts[f"chart-{chart}"]
            assert points > 0, f"chart {chart} has no data: {charts}"
            assert bars > 0, f"chart {chart} draws no bar: {charts}"
        rows = json.loads(
            page.evaluate(
                "JSON.stringify(['table-sources', 'table-reps'].map("
                "id => document.getElementById(id).tBodies[0].rows.length))"
            )
        )
        assert rows[0] == len(SOURCES)
        assert rows[1] == len(REPS)
        assert "google-ads" in page.evaluate("document.getElementById('table-sources').innerText")

        # Trace one lead's story, event by event.
        page.evaluate(
            "(() => { document.getElementById('trace-id').value = "
            + json.dumps(lead_id)
            + "; document.getElementById('trace-form').requestSubmit(); return true; })()"
        )
        page.wait_for("document.querySelectorAll('#trace li').length >= 4")
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
    finally:
        browser.close()


def test_a_key_without_manager_scope_is_sent_back_to_sign_in(
    chromium: str, served: Served, tmp_path: Path
) -> None:
    async def rep_key() -> str:
        async with httpx.AsyncClient(base_url=served.base) as http:
            response = await http.post(
                "/admin/v1/keys",
                json={"name": "ana", "scope": "rep", "rep_id": "ana"},
                headers=ADMIN,
            )
            return str(response.json()["key"])

    key = served.run(rep_key())
    browser = Chromium(chromium, tmp_path)
    try:
        page = Page(browser)
        page.send("Page.navigate", {"url": f"{served.base}/audit/v1/dashboard"})
        page.wait_for("document.readyState === 'complete' && document.body.dataset.state")
        page.evaluate(
            "(() => { document.getElementById('key').value = "
            + json.dumps(key)
            + "; document.getElementById('key-form').requestSubmit(); return true; })()"
        )
        message = page.wait_for(
            "!document.getElementById('sign-in-error').hidden"
            " && document.getElementById('sign-in-error').textContent"
        )
        assert "manager key" in message
        assert page.evaluate("sessionStorage.length") == 0, "a refused key is forgotten"
    finally:
        browser.close()
