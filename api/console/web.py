"""What every console page shares: the templates, the signed-in user (cookie session), the
route class that turns errors into pages, and redirects that work for htmx too."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from fastapi_users.router.common import ErrorCode
from starlette.exceptions import HTTPException

from api.auth.cookie import console_user_or_none
from api.console.csrf import csrf_token
from core.errors import Forbidden, InferraError
from core.models import Role, User

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


class LoginRequired(Exception):
    """No (valid) session cookie: the page sends the browser to the sign-in form."""


class BadCredentials(HTTPException):
    """Raised (not returned) so the login rate limit counts the failure."""

    def __init__(self) -> None:
        super().__init__(status_code=400, detail=ErrorCode.LOGIN_BAD_CREDENTIALS)


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    user: User | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    values = {"user": user, "csrf_token": csrf_token(request), **(context or {})}
    return templates.TemplateResponse(request, name, values, status_code=status_code)


def redirect(request: Request, url: str) -> Response:
    """A 303 for forms; for htmx requests, HX-Redirect (htmx follows it with a full load)."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(request, f"/console/login?next={quote(target, safe='')}")


class ConsolePage(Exception):
    """A page answering a failed request. Raised, not returned: the request's dependencies
    (its database session, the login rate limit) must see that the request failed."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class ConsoleRoute(APIRoute):
    """Errors on a console page render as a page (the API's handler answers JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                raise ConsolePage(_login_redirect(request)) from None
            except InferraError as exc:
                raise ConsolePage(
                    _error_page(request, exc.status_code, exc.message, exc.headers)
                ) from exc
            except RequestValidationError as exc:
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
                )
                message = f"The form is not valid ({fields})."
                raise ConsolePage(_error_page(request, 422, message)) from exc

        return handle


async def _page(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsolePage)
    return exc.response


async def _bad_credentials(request: Request, _: Exception) -> Response:
    context = {"error": "Wrong email or password.", "next": request.query_params}
    return render(request, "login.html", context, status_code=400)


def install_page_errors(app: FastAPI) -> None:
    app.add_exception_handler(ConsolePage, _page)
    app.add_exception_handler(BadCredentials, _bad_credentials)


def _error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    user = request.state.console_user if hasattr(request.state, "console_user") else None
    context = {"status": status, "message": message}
    response = render(request, "error.html", context, user=user, status_code=status)
    response.headers.update(headers or {})
    return response


async def signed_in(
    request: Request, user: Annotated[User | None, Depends(console_user_or_none)]
) -> User:
    if user is None:
        raise LoginRequired()
    request.state.console_user = user
    return user


async def signed_in_staff(user: Annotated[User, Depends(signed_in)]) -> User:
    if not user.is_staff:
        raise Forbidden("This page is for support staff.")
    return user


async def signed_in_admin(user: Annotated[User, Depends(signed_in)]) -> User:
    if user.role is not Role.admin:
        raise Forbidden("This page is for admins.")
    return user


ConsoleUser = Annotated[User, Depends(signed_in)]
ConsoleStaff = Annotated[User, Depends(signed_in_staff)]
ConsoleAdmin = Annotated[User, Depends(signed_in_admin)]
MaybeUser = Annotated[User | None, Depends(console_user_or_none)]
