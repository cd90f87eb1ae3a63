"""The console's pages (workbench, golden losses, experiments) and its login. The pages need a key
with the `debug` scope: sent as a header, or kept by the login page in an HttpOnly cookie scoped to
/ui; a browser without one is sent to the login page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from api.console.schemas import LoginPage
from api.console.services import WorkbenchService
from api.dependencies import from_state
from api.search.controllers import MAX_RAW_QUERY
from api.security.auth import CONSOLE_COOKIE, LoginRequiredError, caller_of, gate_of
from quarry.api_keys import KeyStoreError

LOGIN_PATH = "/ui/console/login"
SESSION_HOURS = 8
Choice = Annotated[str, Parameter(max_length=200)]


def safe_next(target: str) -> str:
    """Only a console page of this site: the login must not redirect anywhere else."""
    if target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/workbench"


def login_redirect(request: Request[Any, Any, Any], exc: LoginRequiredError) -> Redirect:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return Redirect(f"{LOGIN_PATH}?{urlencode({'next': target})}", status_code=303)


class ConsoleController(Controller):
    path = "/ui"
    include_in_schema = False
    dependencies = {"workbench": from_state("workbench_service")}  # noqa: RUF012
    # UBI's lists and readouts cover every shopper: a key kept to a slice of the catalog may not read them.
    opt = {"scope": "debug", "console": True, "unfiltered_keys_only": True}  # noqa: RUF012

    @get("/workbench", sync_to_thread=True)
    def workbench(
        self,
        request: Request[Any, Any, Any],
        workbench: NamedDependency[WorkbenchService],
        q: Annotated[str, Parameter(max_length=MAX_RAW_QUERY)] = "",
        left: Choice = "live",
        right: Choice = "formula",
    ) -> Template:
        try:
            page = workbench.compare(q, left, right, caller_of(request).filters)
        except ValueError as exc:  # an unknown configuration, or a variant the live one cannot take
            raise ValidationException(str(exc)) from exc
        return Template("console/workbench.html", context={"page": page})

    @get("/workbench/losses", sync_to_thread=True)
    def losses(
        self,
        request: Request[Any, Any, Any],
        workbench: NamedDependency[WorkbenchService],
        left: Annotated[str | None, Parameter(max_length=200)] = None,
        right: Annotated[str | None, Parameter(max_length=200)] = None,
    ) -> Template:
        """Computed only when both sides are named (a minute of searching): without them, the form."""
        if left is None or right is None:
            return Template("console/losses.html", context={"page": workbench.losses_form()})
        try:
            page = workbench.losses(left, right, caller_of(request).filters)
        except ValueError as exc:  # an unknown configuration, or a variant the live one cannot take
            raise ValidationException(str(exc)) from exc
        return Template("console/losses.html", context={"page": page})

    @get("/experiments", sync_to_thread=True)
    def experiments(self, workbench: NamedDependency[WorkbenchService]) -> Template:
        return Template("console/experiments.html", context={"page": workbench.experiments_page()})

    @get("/experiments/{name:str}", sync_to_thread=True)
    def experiment(
        self, workbench: NamedDependency[WorkbenchService], name: Annotated[str, Parameter(max_length=200)]
    ) -> Template:
        page = workbench.experiment_page(name)
        if page is None:
            raise NotFoundException(f"no experiment named {name!r} is loaded")
        return Template("console/experiment.html", context={"page": page})


class ConsoleLoginController(Controller):
    path = "/ui/console"
    include_in_schema = False
    opt = {"public": True}  # noqa: RUF012

    @get("/login")
    async def login_form(self, next: Annotated[str, Parameter(max_length=2048)] = "") -> Template:
        return Template("console/login.html", context={"page": LoginPage(safe_next(next))})

    @post("/login", status_code=303)
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect | Template:
        """The key is checked as any request's (known keys from memory, unknown ones limited per
        address before the store is read) and kept only if it holds `debug`."""
        token, target = data.get("key", "").strip(), safe_next(data.get("next", ""))
        gate = gate_of(request)
        if gate.authenticator is None:
            raise KeyStoreError("the API is starting")
        caller = await gate.authenticator.authenticate(token, request, gate.rate_limits) if token else None
        if caller is None or not caller.may("debug"):
            error = (
                "That key is unknown, revoked or expired."
                if caller is None
                else "That key lacks the debug scope."
            )
            return Template("console/login.html", context={"page": LoginPage(target, error)}, status_code=401)
        cookie = Cookie(
            key=CONSOLE_COOKIE,
            value=token,
            path="/ui",
            max_age=SESSION_HOURS * 3600,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return Redirect(target, status_code=303, cookies=[cookie])

    @post("/logout", status_code=303)
    async def logout(self) -> Redirect:
        return Redirect(
            LOGIN_PATH, status_code=303, cookies=[Cookie(key=CONSOLE_COOKIE, value="", path="/ui", max_age=0)]
        )
