"""Facilitator login and logout."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.i18n import _l
from app.services import accounts
from app.web import (
    SESSION_COOKIE,
    CsrfFacilitator,
    FormDep,
    ServicesDep,
    client_ip,
    facilitator_language,
    page,
    see_other,
)

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only local paths, never another site."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/manage"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/manage") -> HTMLResponse:
    return page(
        request,
        "login.html",
        facilitator_language(request),
        next=_safe_next(next),
        error=None,
        email="",
    )


def _field(form: dict[str, list[str]], name: str, default: str = "") -> str:
    return form.get(name, [default])[0]


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, svc: ServicesDep, form: FormDep) -> Response:
    # A plain `def`: Argon2 verification runs in the thread pool, not on the event loop.
    email = _field(form, "email")[:254]
    password = _field(form, "password")[:1024]
    target = _safe_next(_field(form, "next", "/manage"))
    language = facilitator_language(request)
    ip = client_ip(request)
    account = accounts.normalise_email(email)
    limits = svc.limits
    if not (
        limits.test(limits.login, "login-ip", ip)
        and limits.test(limits.login, "login-account", account)
    ):
        response = page(
            request,
            "login.html",
            language,
            status_code=429,
            next=target,
            email=email,
            error=_l("Too many tries. Wait a minute and try again."),
        )
        response.headers["Retry-After"] = str(limits.retry_after(limits.login, "login-ip", ip))
        return response
    with svc.db.write_session() as session:
        user = accounts.authenticate(session=session, email=email, password=password)
        if user is not None:
            token, _ = accounts.start_session(
                session=session, user=user, hours=svc.settings.session_hours
            )
    if user is None:
        limits.hit(limits.login, "login-ip", ip)
        limits.hit(limits.login, "login-account", account)
        return page(
            request,
            "login.html",
            language,
            status_code=401,
            next=target,
            email=email,
            error=_l("Email address or password is not correct."),
        )
    redirect = see_other(target)
    redirect.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=svc.settings.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=svc.settings.secure_cookies,
        path="/",
    )
    return redirect


@router.post("/logout")
def logout(request: Request, svc: ServicesDep, facilitator: CsrfFacilitator) -> Response:
    with svc.db.write_session() as session:
        accounts.end_session(session=session, token=request.cookies.get(SESSION_COOKIE, ""))
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def choose_language(form: FormDep) -> Response:
    """The facilitator's own choice of interface language (a cookie, no account change)."""
    language = _field(form, "language")
    response = see_other(_safe_next(_field(form, "next", "/manage")))
    if language in ("nl", "en"):
        response.set_cookie(
            "stemlab_lang",
            language,
            max_age=365 * 24 * 3600,
            samesite="lax",
            httponly=True,
            path="/",
        )
    return response
