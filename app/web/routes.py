"""The web pages: dashboard, agreement, overdue, audit, sign-in, and the officials' milestone forms."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from app import commands as c
from app.api.backend import Backend
from app.api.deps import get_backend
from app.api.errors import status_of, validation_detail
from app.errors import ApplicationError
from app.i18n import LANGUAGE_NAMES, LANGUAGES, direction, normalise, translate
from app.presenters import agreement_state
from app.service import WriteResult
from app.settings import Settings
from app.users import User, token_hash
from app.web import WEB_DIR
from app.web.session import COOKIE_NAME, Session, SessionSigner
from domain.errors import DomainError

LANG_COOKIE = "ct_lang"
templates = Jinja2Templates(directory=WEB_DIR / "templates")


@dataclass
class Visit:
    """One page request: who is visiting, in which language, with which session."""

    request: Request
    backend: Backend
    session: Session
    user: User | None
    lang: str
    session_changed: bool

    def t(self, key: str) -> str:
        return translate(self.lang, key)


FORM_ACTIONS: dict[str, tuple[type[c.CommandMeta], tuple[str, ...]]] = {
    "progress": (c.ReportProgress, ("percent", "note")),
    "completion": (c.CompleteMilestone, ("completed_on", "evidence")),
    "reschedule": (c.RescheduleMilestone, ("due_on", "reason")),
}


@dataclass(frozen=True)
class WebUI:
    """The web UI's configuration, held on the app: the session signer and the settings."""

    settings: Settings
    signer: SessionSigner

    @classmethod
    def build(cls, settings: Settings) -> WebUI:
        secret = settings.web_session_secret or secrets.token_urlsafe(32)
        return cls(settings, SessionSigner(secret, settings.web_session_max_age))


router = APIRouter(include_in_schema=False)


def visit(request: Request, backend: Annotated[Backend, Depends(get_backend)]) -> Visit:
    ui: WebUI = request.app.state.web_ui
    existing = ui.signer.loads(request.cookies.get(COOKIE_NAME))
    session = existing or Session()
    user = backend.users.by_hash(session.token_sha256) if session.token_sha256 else None
    lang = normalise(request.cookies.get(LANG_COOKIE), ui.settings.web_default_language)
    return Visit(request, backend, session, user, lang, session_changed=existing is None)


VisitDep = Annotated[Visit, Depends(visit)]


def keep_session(response: Response, v: Visit) -> Response:
    if v.session_changed:
        ui: WebUI = v.request.app.state.web_ui
        response.set_cookie(COOKIE_NAME, ui.signer.dumps(v.session), max_age=ui.settings.web_session_max_age,
                            httponly=True, samesite="lax", secure=ui.settings.web_secure_cookies, path="/")
    return response


def render(v: Visit, template: str, status: int = 200, **context: Any) -> Response:
    response = templates.TemplateResponse(v.request, template, {
        "t": v.t, "lang": v.lang, "dir": direction(v.lang), "languages": LANGUAGES,
        "language_names": LANGUAGE_NAMES, "user": v.user, "csrf": v.session.csrf,
        "path": v.request.url.path, "today": v.backend.service.today().isoformat(),
        "status_label": lambda s: v.t(f"status_{s}"), "money": _money, **context,
    }, status_code=status)
    return keep_session(response, v)


def to_signin(v: Visit) -> Response:
    target = quote(v.request.url.path + (f"?{v.request.url.query}" if v.request.url.query else ""), safe="")
    return keep_session(RedirectResponse(f"/signin?next={target}", status_code=303), v)


@router.get("/signin", response_class=HTMLResponse)
def signin_page(v: VisitDep, next: str = "/") -> Response:  # noqa: A002 - the query parameter's name
    return render(v, "signin.html", next=_local(next))


@router.post("/signin")
async def signin(v: VisitDep) -> Response:
    form = await v.request.form()
    target = _local(str(form.get("next") or "/"))
    if not v.session.csrf_matches(_text(form.get("csrf"))):
        return render(v, "signin.html", status=403, next=target, error=v.t("csrf_failed"))
    token = (_text(form.get("token")) or "").strip()
    user = await run_in_threadpool(v.backend.users.authenticate, token) if token else None
    if user is None:
        return render(v, "signin.html", status=401, next=target, error=v.t("bad_token"))
    # A fresh session (and CSRF secret) at sign-in, so a planted cookie cannot ride along.
    v.session, v.session_changed, v.user = Session(token_sha256=token_hash(token)), True, user
    return keep_session(RedirectResponse(target, status_code=303), v)


@router.post("/signout")
async def signout(v: VisitDep) -> Response:
    form = await v.request.form()
    if v.session.csrf_matches(_text(form.get("csrf"))):
        v.session, v.session_changed = Session(), True
    return keep_session(RedirectResponse("/signin", status_code=303), v)


@router.get("/lang/{code}")
def choose_language(code: str, v: VisitDep, next: str = "/") -> Response:  # noqa: A002
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(LANG_COOKIE, normalise(code, v.lang), max_age=365 * 86400, samesite="lax", path="/")
    return keep_session(response, v)


@router.get("/", response_class=HTMLResponse)
def dashboard(v: VisitDep) -> Response:
    if v.user is None:
        return to_signin(v)
    service = v.backend.service
    today = service.today()
    rows = service.list_agreements()
    overdue = v.backend.overdue(today)
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        for cur, amount in row["allocated"].items():
            totals.setdefault(cur, {"allocated": Decimal(0), "disbursed": Decimal(0)})["allocated"] += Decimal(amount)
        for cur, amount in row["disbursed"].items():
            totals.setdefault(cur, {"allocated": Decimal(0), "disbursed": Decimal(0)})["disbursed"] += Decimal(amount)
    chart = {
        "kind": "dashboard", "rtl": v.lang == "ar",
        "labels": {"allocated": v.t("allocated"), "disbursed": v.t("disbursed")},
        "funding": [{"label": f"{r['ref']} ({cur})", "allocated": float(amount),
                     "disbursed": float(r["disbursed"].get(cur, 0))}
                    for r in rows for cur, amount in r["allocated"].items()],
    }
    return render(v, "dashboard.html", agreements=rows, overdue=overdue, totals=totals,
                  chart_json=_json(chart))


@router.get("/agreements/{ref}", response_class=HTMLResponse)
def agreement_page(ref: str, v: VisitDep, done: str | None = None) -> Response:
    if v.user is None:
        return to_signin(v)
    return agreement_view(v, ref, notice=v.t("saved") if done else None)


def agreement_view(v: Visit, ref: str, *, error: str | None = None, notice: str | None = None,
                   status: int = 200) -> Response:
    service = v.backend.service
    try:
        agreement = service.agreement(ref)
    except ApplicationError:
        return render(v, "error.html", status=404, message=f"{v.t('not_found')}: {ref}")
    state = agreement_state(agreement)
    today = service.today()
    for m in state["milestones"]:
        m["overdue"] = agreement.is_overdue(m["milestone_id"], today)
    history = list(service.history(ref))
    can_write = v.user is not None and v.user.can_write_to(agreement.party_short_names)
    chart = {
        "kind": "agreement", "rtl": v.lang == "ar",
        "labels": {"planned": v.t("planned_original"), "due": v.t("due_now"), "actual": v.t("actual"),
                   "allocated": v.t("allocated"), "disbursed": v.t("disbursed"), "today": v.t("today")},
        "today": today.isoformat(),
        "milestones": [{"id": m["milestone_id"], "planned": m["original_due_on"] or m["due_on"],
                        "due": m["due_on"], "actual": m["completed_on"]} for m in state["milestones"]],
        "funding": [{"currency": cur, "allocated": float(f["allocated"]), "disbursed": float(f["disbursed"])}
                    for cur, f in state["funding"].items()],
    }
    return render(v, "agreement.html", status=status, a=state, history=list(reversed(history)),
                  can_write=can_write, overdue_count=sum(1 for m in state["milestones"] if m["overdue"]),
                  error=error, notice=notice, chart_json=_json(chart), nonce=secrets.token_urlsafe(16))


@router.post("/agreements/{ref}/milestones/{milestone_id}/{action}")
async def milestone_action(ref: str, milestone_id: str, action: str, v: VisitDep) -> Response:
    if v.user is None:
        return to_signin(v)
    form = await v.request.form()
    if not v.session.csrf_matches(_text(form.get("csrf"))):
        return await run_in_threadpool(lambda: agreement_view(v, ref, error=v.t("csrf_failed"), status=403))
    if action not in FORM_ACTIONS:
        return render(v, "error.html", status=404, message=f"{v.t('not_found')}: {action}")
    model, names = FORM_ACTIONS[action]
    values = {n: _text(form.get(n)) for n in names}
    nonce = _text(form.get("nonce"))
    user = v.user

    def run() -> Response:
        try:
            if not user.can_write_to(v.backend.service.parties(ref)):
                return agreement_view(v, ref, error=v.t("not_your_agreement"), status=403)
            command = model.model_validate({
                **{k: val for k, val in values.items() if val not in (None, "")},
                "command_id": f"web:{user.name}:{nonce}" if nonce else None,
            })
            v.backend.written(_perform(v.backend, action, ref, milestone_id, command, user.actor))
        except ValidationError as e:
            return agreement_view(v, ref, error=validation_detail(e.errors()), status=422)
        except (DomainError, ApplicationError) as e:
            return agreement_view(v, ref, error=str(e).splitlines()[0], status=status_of(e))
        return keep_session(RedirectResponse(f"/agreements/{ref}?done={action}#history", status_code=303), v)

    return await run_in_threadpool(run)


@router.get("/overdue", response_class=HTMLResponse)
def overdue_page(v: VisitDep, as_of: str | None = None) -> Response:
    if v.user is None:
        return to_signin(v)
    day = _date(as_of) or v.backend.service.today()
    return render(v, "overdue.html", overdue=v.backend.overdue(day), as_of=day.isoformat())


@router.get("/audit", response_class=HTMLResponse)
def audit_page(v: VisitDep) -> Response:
    if v.user is None:
        return to_signin(v)
    result = v.backend.verify()
    return render(v, "audit.html", result=result)


def _perform(backend: Backend, action: str, ref: str, milestone_id: str, command: c.CommandMeta,
             actor: str) -> WriteResult:
    service = backend.service
    methods: dict[str, Callable[..., WriteResult]] = {
        "progress": service.report_progress,
        "completion": service.complete_milestone,
        "reschedule": service.reschedule_milestone,
    }
    return methods[action](ref, milestone_id, command, actor=actor)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _local(target: str) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _money(amount: object) -> str:
    try:
        return f"{Decimal(str(amount)):,.2f}"
    except ArithmeticError:
        return str(amount)


def _json(value: object) -> str:
    # Safe inside a <script type="application/json"> block: no "</" can close it early.
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")
