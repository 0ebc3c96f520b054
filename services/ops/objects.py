"""The everyday objects from the `leadfarm` CLI: leads (and a lead's timeline in short), reps
(and reinstating one), rules, pools, and the forecast's removal requests (approving or
denying one).

These commands call the services' HTTP APIs with an API key, rather than opening the
database like `dlq`, `lag`, `replay` and `timers` do (services/ops/commands.py): a rep is
reinstated and a removal approved by the same code, with the same checks, events and audit
trail, whoever asks; the key's scope and roles apply (only a sales executive's key approves
a forecast removal); and one address works on both runtimes, since each command talks to one
service: the embedded process, the cluster's ingress, or that service's own address.

Where: `--url`, else `LEADFARM_URL`, else this machine's `LEADFARM_HTTP_HOST`/`PORT`
(http://127.0.0.1:8000). The key: `LEADFARM_KEY`, else `LEADFARM_ADMIN_KEY` (never an
option: a key on the command line stays in the shell's history and in `ps`).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
import orjson
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.settings import Settings

COMMANDS = ("leads", "reps", "rules", "pools", "forecast")
NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
"""Rep, pool and rule ids (router's ID_PATTERN)."""
STAGES = ("raw", "basic_qualified", "sales_qualified")
USAGE = 2
"""Exit status for bad input (as argparse's)."""
FAILED = 1
"""Exit status when Leadfarm refused or could not be reached."""


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEADFARM_", extra="ignore", hide_input_in_errors=True
    )

    url: str | None = None
    """Where Leadfarm answers (the embedded process, or the cluster's ingress)."""
    key: SecretStr | None = None
    """The API key the commands send."""


class CommandError(Exception):
    """A message for the operator and the exit status; never a traceback."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


# --- the parsers ----------------------------------------------------------------------------


def add_parsers(sub: Any) -> None:
    """Add `leads`, `reps`, `rules`, `pools` and `forecast` to the CLI's subparsers."""
    leads = _group(sub, "leads", "leads: list, show, timeline (audit's view, no contact data)")
    listing = _command(leads, "list", "leads, the most recently captured first")
    listing.add_argument("--stage", choices=STAGES, help="only leads at this stage")
    listing.add_argument("--rep", metavar="REP_ID", help="only leads assigned to this rep")
    listing.add_argument(
        "--limit", type=int, default=50, help="how many leads at most (50; up to 1000)"
    )
    show = _command(leads, "show", "one lead: source, stage, rep, touches, forecast, audits")
    show.add_argument("lead_id", help="the lead's id (a UUID)")
    story = _command(leads, "timeline", "a lead's timeline: one line per event (when, what, who)")
    story.add_argument("lead_id", help="the lead's id (a UUID)")

    reps = _group(sub, "reps", "reps: list, show, suspend, reinstate")
    _command(reps, "list", "every rep")
    show = _command(reps, "show", "one rep: calendar, caps, suspension")
    show.add_argument("rep_id", help="the rep's id")
    suspend = _command(reps, "suspend", "take a rep out of the distribution, with a reason")
    suspend.add_argument("rep_id", help="the rep's id")
    suspend.add_argument(
        "--reason", required=True, help="why, shown with the rep and on rep.suspended"
    )
    reinstate = _command(reps, "reinstate", "put a suspended rep back in the distribution")
    reinstate.add_argument("rep_id", help="the rep's id")
    reinstate.add_argument("--reason", help="why, kept with the rep.reinstated event")

    rules = _group(sub, "rules", "routing rules: list, show, history, rollback")
    _command(rules, "list", "every rule, in the order they are tried")
    show = _command(rules, "show", "one rule: conditions and pool")
    show.add_argument("rule_id", help="the rule's id")

    pools = _group(sub, "pools", "rep pools: list, show, history, rollback")
    _command(pools, "list", "every pool")
    show = _command(pools, "show", "one pool: members, strategy, SLA")
    show.add_argument("pool_id", help="the pool's id")

    for group, kind in ((rules, "rule"), (pools, "pool")):
        history = _command(
            group, "history", f"every change of the {kind}s, newest first, and who made it"
        )
        history.add_argument(f"--{kind}", metavar="ID", help=f"only this {kind}'s changes")
        history.add_argument("--limit", type=int, default=50, help="how many (50; up to 1000)")
        rollback = _command(
            group, "rollback", f"restore the {kind}s as they were right after a version"
        )
        rollback.add_argument("version", type=int, help="the version (from `history`)")
        rollback.add_argument(f"--{kind}", metavar="ID", help=f"only this {kind}")

    forecast = _group(sub, "forecast", "the forecast's removal requests: list, approve, deny")
    removals = _command(forecast, "removals", "removal requests, newest first")
    removals.add_argument(
        "--status", choices=("pending", "approved", "denied"), help="only requests in this status"
    )
    for action, says in (("approve", "approve"), ("deny", "deny")):
        decide = _command(
            forecast, action, f"{says} a removal request (needs a sales executive's key)"
        )
        decide.add_argument("request_id", help="the request's id (a UUID, from `removals`)")
        decide.add_argument(
            "--reason", required=True, help="why (3 characters or more), kept with the decision"
        )


def _group(sub: Any, name: str, help_text: str) -> Any:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(
        dest=f"{name}_action", required=True, metavar="ACTION", title="actions"
    )


def _command(group: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
    parser.add_argument(
        "--url",
        help="where Leadfarm answers (LEADFARM_URL; default http://LEADFARM_HTTP_HOST:PORT)",
    )
    parser.add_argument("--json", action="store_true", help="JSON for scripts (lists: a line each)")
    return parser


# --- running --------------------------------------------------------------------------------


def run(args: argparse.Namespace, settings: Settings) -> int:
    # httpx logs each request at INFO: noise on an operator's terminal, where the answer is
    # the output.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        client = _client(args, settings)
        with client:
            return _dispatch(args, client)
    except CommandError as exc:
        print(f"leadfarm: {exc}", file=sys.stderr)
        return exc.status


def _client(args: argparse.Namespace, settings: Settings) -> Api:
    found = ClientSettings()
    url = (args.url or found.url or settings.http_url()).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CommandError(f"--url {url!r} is not an http:// or https:// URL", USAGE)
    key = found.key or settings.admin_key
    if key is None:
        raise CommandError(
            "no API key: set LEADFARM_KEY to an admin or manager key (the one `leadfarm up` "
            "printed at first start), or LEADFARM_ADMIN_KEY",
            USAGE,
        )
    return Api(url, key.get_secret_value())


def _dispatch(args: argparse.Namespace, api: Api) -> int:
    as_json: bool = args.json
    action = getattr(args, f"{args.command}_action")
    command = COMMAND_TABLE[(args.command, action)]
    return command(api, args, as_json)


class Api:
    """A little client of Leadfarm's HTTP API that turns every refusal into a CommandError
    carrying the problem's own words."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self._http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0
        )

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *_: object) -> None:
        self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return self._call("POST", path, json=body)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise CommandError(
                f"cannot reach Leadfarm at {self.url} ({exc}); is it running? Point --url or "
                "LEADFARM_URL at it"
            ) from None
        if response.is_success:
            return response.json() if response.content else None
        raise CommandError(self._refusal(response))

    def _refusal(self, response: httpx.Response) -> str:
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        detail = problem.get("detail") or problem.get("title") or response.reason_phrase
        if response.status_code == 401:
            return (
                f"{self.url} refused the key ({detail}); set LEADFARM_KEY to an admin or "
                "manager key"
            )
        return f"{detail} (HTTP {response.status_code})"


# --- the commands ---------------------------------------------------------------------------


Command = Callable[[Api, argparse.Namespace, bool], int]


def _lead_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(f"{value!r} is not a lead id (a UUID)", USAGE) from None


def _request_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CommandError(
            f"{value!r} is not a removal request id (a UUID; see `leadfarm forecast removals`)",
            USAGE,
        ) from None


def _name(value: str, what: str) -> str:
    if not NAME.match(value):
        raise CommandError(
            f"{value!r} is not a {what} id (1-100 letters, digits, '.', '_' or '-')", USAGE
        )
    return value


def leads_list(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    if not 1 <= args.limit <= 1000:
        raise CommandError(f"--limit {args.limit}: give 1 to 1000", USAGE)
    params: dict[str, Any] = {"limit": args.limit}
    if args.stage:
        params["stage"] = args.stage
    if args.rep:
        params["rep_id"] = _name(args.rep, "rep")
    found = api.get("/audit/v1/leads", params)
    columns = ("lead_id", "captured_at", "source", "stage", "rep_id", "first_touch_at")
    return _print_list(found, columns, as_json, empty="no leads")


def leads_show(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    return _print_one(api.get(f"/audit/v1/leads/{_lead_id(args.lead_id)}"), as_json)


def leads_timeline(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    story = api.get(f"/audit/v1/leads/{_lead_id(args.lead_id)}/timeline/summary")
    if as_json:
        print(orjson.dumps(story).decode())
        return 0
    print(f"lead {story['lead_id']}")
    print(table(story["events"], ("time", "what", "who")))
    return 0


def reps_list(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    found = api.get("/router/v1/reps")
    columns = ("id", "name", "active", "suspended", "team_id", "time_zone", "weight")
    return _print_list(found, columns, as_json, empty="no reps")


def reps_show(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    return _print_one(api.get(f"/router/v1/reps/{_name(args.rep_id, 'rep')}"), as_json)


def reps_suspend(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    rep = api.post(f"/router/v1/reps/{_name(args.rep_id, 'rep')}/suspend", {"reason": args.reason})
    if as_json:
        print(orjson.dumps(rep).decode())
    else:
        print(f"rep {rep['id']} ({rep['name']}) is suspended: {rep['suspended_reason']}")
    return 0


def reps_reinstate(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    body = {"reason": args.reason} if args.reason else None
    rep = api.post(f"/router/v1/reps/{_name(args.rep_id, 'rep')}/reinstate", body)
    if as_json:
        print(orjson.dumps(rep).decode())
    else:
        print(f"rep {rep['id']} ({rep['name']}) is back in the distribution")
    return 0


def rules_list(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    found = api.get("/router/v1/rules")
    columns = ("id", "position", "enabled", "pool", "name")
    return _print_list(
        found, columns, as_json, empty="no rules (every lead goes to the default pool)"
    )


def rules_show(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    return _print_one(api.get(f"/router/v1/rules/{_name(args.rule_id, 'rule')}"), as_json)


def pools_list(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    found = api.get("/router/v1/pools")
    columns = ("id", "name", "strategy", "members", "teams", "outside_hours")
    return _print_list(found, columns, as_json, empty="no pools")


def pools_show(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    return _print_one(api.get(f"/router/v1/pools/{_name(args.pool_id, 'pool')}"), as_json)


def _history(kind: str) -> Command:
    def history(api: Api, args: argparse.Namespace, as_json: bool) -> int:
        if not 1 <= args.limit <= 1000:
            raise CommandError(f"--limit {args.limit}: give 1 to 1000", USAGE)
        params: dict[str, Any] = {"limit": args.limit}
        only = getattr(args, kind)
        if only:
            params[kind] = _name(only, kind)
        found = api.get(f"/router/v1/{kind}s/history", params)
        if as_json:
            return _print_list(found, (), as_json, empty="")
        rows = [_change_row(kind, c) for c in found]
        columns = ("version", f"{kind}_id", "action", "restored_from", "changed_at", "changed_by")
        return _print_list(rows, columns, as_json, empty=f"no changes of {kind}s")

    return history


def _rollback(kind: str) -> Command:
    def rollback(api: Api, args: argparse.Namespace, as_json: bool) -> int:
        body: dict[str, Any] = {"version": args.version}
        only = getattr(args, kind)
        if only:
            body[kind] = _name(only, kind)
        done = api.post(f"/router/v1/{kind}s:rollback", body)
        if as_json:
            print(orjson.dumps(done).decode())
            return 0
        changes = [_change_row(kind, c) for c in done["changes"]]
        if not changes:
            print(f"the {kind}s are as they were at version {args.version}; nothing changed")
            return 0
        print(f"restored the {kind}s as of version {args.version}:")
        print(table(changes, ("version", f"{kind}_id", "action")))
        return 0

    return rollback


def _change_row(kind: str, change: Mapping[str, Any]) -> dict[str, Any]:
    by = change["changed_by"]
    return {
        **change,
        "changed_by": f"{by['name']} ({by['key_id']})" if by["name"] else by["key_id"],
    }


def forecast_removals(api: Api, args: argparse.Namespace, as_json: bool) -> int:
    params = {"status": args.status} if args.status else None
    found = api.get("/audit/v1/forecast/removal-requests", params)
    columns = ("id", "status", "lead_id", "requested_at", "requested_by", "reason")
    return _print_list(found, columns, as_json, empty="no removal requests")


def _decide(verb: str) -> Command:
    def decide(api: Api, args: argparse.Namespace, as_json: bool) -> int:
        request_id = _request_id(args.request_id)
        if len(args.reason.strip()) < 3:
            raise CommandError("--reason: say why, in 3 characters or more", USAGE)
        made = api.post(
            f"/audit/v1/forecast/removal-requests/{request_id}/{verb}", {"reason": args.reason}
        )
        if as_json:
            print(orjson.dumps(made).decode())
        else:
            print(f"removal request {made['id']} {made['status']} (lead {made['lead_id']})")
        return 0

    return decide


COMMAND_TABLE: dict[tuple[str, str], Command] = {
    ("leads", "list"): leads_list,
    ("leads", "show"): leads_show,
    ("leads", "timeline"): leads_timeline,
    ("reps", "list"): reps_list,
    ("reps", "show"): reps_show,
    ("reps", "suspend"): reps_suspend,
    ("reps", "reinstate"): reps_reinstate,
    ("rules", "list"): rules_list,
    ("rules", "show"): rules_show,
    ("rules", "history"): _history("rule"),
    ("rules", "rollback"): _rollback("rule"),
    ("pools", "history"): _history("pool"),
    ("pools", "rollback"): _rollback("pool"),
    ("pools", "list"): pools_list,
    ("pools", "show"): pools_show,
    ("forecast", "removals"): forecast_removals,
    ("forecast", "approve"): _decide("approve"),
    ("forecast", "deny"): _decide("deny"),
}


# --- output ---------------------------------------------------------------------------------


def _print_list(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], as_json: bool, *, empty: str
) -> int:
    if as_json:
        for row in rows:
            print(orjson.dumps(row).decode())
    elif rows:
        print(table(rows, columns))
    else:
        print(empty)
    return 0


def _print_one(item: Mapping[str, Any], as_json: bool) -> int:
    if as_json:
        print(orjson.dumps(item).decode())
        return 0
    width = max(len(k) for k in item)
    for name, value in item.items():
        print(f"{name:<{width}}  {cell(value)}")
    return 0


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """Rows as aligned text columns. A few lines rather than a table library (tabulate, rich):
    the other `leadfarm` commands print the same plain columns, and a run-time dependency for
    this would be more than the code it saves."""
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [[c.replace("_", " ") for c in columns], *cells]
    return "\n".join(
        "  ".join(value.ljust(w) for value, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def cell(value: Any) -> str:
    """A value as a person reads it: times to the second (UTC), lists comma-separated,
    nothing as '-', anything nested as compact JSON without its unset (null) fields."""
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return orjson.dumps(_without_nulls(value)).decode()
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        except ValueError:
            return value
    return str(value)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
