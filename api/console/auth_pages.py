"""Sign in, register, sign out. The same fastapi-users manager, rate limits and rules as
/api/v1/auth; the session is an HttpOnly SameSite=Lax cookie (Secure outside dev and test)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import exceptions
from fastapi_users.authentication import JWTStrategy
from pydantic import ValidationError

from api.auth.backend import UserManager, get_jwt_strategy, get_user_manager
from api.auth.cookie import clear_session_cookie, set_session_cookie
from api.auth.rate_limit import enforce_login_rate_limit, enforce_registration_rate_limit
from api.auth.schemas import UserCreate
from api.console.web import BadCredentials, ConsoleRoute, MaybeUser, redirect, render
from api.deps import SettingsDep
from core.models import User

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
Manager = Annotated[UserManager, Depends(get_user_manager)]
Strategy = Annotated[JWTStrategy, Depends(get_jwt_strategy)]


def home_of(user: User) -> str:
    return "/console/queue" if user.is_staff else "/console/tickets"


def _safe_next(target: str) -> str | None:
    """Only a console path: never an open redirect to another site."""
    ok = target.startswith("/console") and not target.startswith("//") and "\\" not in target
    return target if ok else None


@router.get("")
async def console_home(request: Request, user: MaybeUser) -> Response:
    return redirect(request, home_of(user) if user else "/console/login")


@router.get("/login")
async def login_page(request: Request, user: MaybeUser) -> Response:
    if user is not None:
        return redirect(request, home_of(user))
    return render(request, "login.html", {"next": request.query_params})


@router.post("/login", dependencies=[Depends(enforce_login_rate_limit, scope="function")])
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=128)],
    manager: Manager,
    strategy: Strategy,
    settings: SettingsDep,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    credentials = OAuth2PasswordRequestForm(username=username, password=password)
    user = await manager.authenticate(credentials)
    if user is None or not user.is_active:
        raise BadCredentials()
    response = redirect(request, _safe_next(next) or home_of(user))
    await set_session_cookie(response, strategy, user, settings)
    return response


@router.get("/register")
async def register_page(request: Request) -> Response:
    return render(request, "register.html")


@router.post("/register", dependencies=[Depends(enforce_registration_rate_limit)])
async def register(
    request: Request,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=128)],
    manager: Manager,
    strategy: Strategy,
    settings: SettingsDep,
) -> Response:
    try:
        user = await manager.create(
            UserCreate(email=email, password=password), safe=True, request=request
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        return _register_again(request, email, f"Check the form: {problems}.")
    except exceptions.UserAlreadyExists:
        return _register_again(request, email, "An account with this email already exists.")
    except exceptions.InvalidPasswordException as exc:
        return _register_again(request, email, f"Choose another password: {exc.reason}.")
    response = redirect(request, home_of(user))
    await set_session_cookie(response, strategy, user, settings)
    return response


def _register_again(request: Request, email: str, error: str) -> Response:
    context = {"email": email, "error": error}
    return render(request, "register.html", context, status_code=400)


@router.post("/logout")
async def logout(request: Request, settings: SettingsDep) -> Response:
    """The cookie goes; the JWT itself stays valid until it expires (stateless, as the API's)."""
    response = redirect(request, "/console/login")
    clear_session_cookie(response, settings)
    return response
