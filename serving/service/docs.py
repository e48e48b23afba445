"""The service's documentation pages, working offline: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a machine without internet (a CRM's
private network, this project's CI) ``/docs`` is a blank page. Here the same pages load their scripts,
styles and icon from the installed ``fastapi-offline`` package (Swagger UI 5, which reads the OpenAPI
3.1 document FastAPI writes, and ReDoc 2), served by this service under :data:`ASSETS_PATH`. No page
names another host: Swagger UI's online validator badge is switched off, and ReDoc's web fonts too.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs/assets"
PAGE_PATHS = frozenset({DOCS_PATH, REDOC_PATH, OAUTH2_REDIRECT_PATH})


def is_docs_path(path: str) -> bool:
    """Whether ``path`` is one of the documentation pages or their assets (public: no key needed)."""
    return path in PAGE_PATHS or path.startswith(ASSETS_PATH + "/")


def add_docs(app: Any) -> None:
    """Serve the documentation pages and their assets on ``app`` (created with ``docs_url=None, redoc_url=None``)."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS_PATH, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url

    @app.get(DOCS_PATH, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API",
            oauth2_redirect_url=OAUTH2_REDIRECT_PATH,
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # the badge would ask validator.swagger.io
        )

    @app.get(OAUTH2_REDIRECT_PATH, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_PATH, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title}: API",
            redoc_js_url=f"{ASSETS_PATH}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PATH}/favicon.png",
            with_google_fonts=False,
        )
