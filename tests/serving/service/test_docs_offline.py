"""Every page the service serves works offline: nothing it serves names another host, and what it names loads."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

# Where a page or a style sheet names something to load: attributes, CSS url(...), Swagger UI's `url:` option.
REFERENCES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)["']?\s*\)|url:\s*'([^']+)'""")
ANY_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)


def _pages(service) -> list[str]:
    """Every GET route without a path parameter that answers HTML: the pages the service serves."""
    import requests

    spec = requests.get(service.url + "/openapi.json", timeout=30).json()
    paths = set(spec["paths"]) | {"/docs", "/redoc", "/docs/oauth2-redirect"}
    pages = []
    for path in sorted(paths):
        if "{" in path:
            continue
        answer = service.get(path)
        if answer.headers.get("content-type", "").startswith("text/html"):
            pages.append(path)
    return pages


def _references(text: str) -> list[str]:
    return [next(group for group in match.groups() if group) for match in REFERENCES.finditer(text)]


def test_no_page_the_service_serves_names_another_host_and_everything_it_names_loads(service) -> None:
    pages = _pages(service)
    assert {"/docs", "/redoc", "/docs/oauth2-redirect"} <= set(pages)
    loaded = set()
    for path in pages:
        page = service.get(path)
        assert page.status_code == 200, path
        assert not ANY_URL.findall(page.text), (path, ANY_URL.findall(page.text))
        for reference in _references(page.text):
            target = urljoin(service.url + path, reference)
            assert urlsplit(target).netloc == urlsplit(service.url).netloc, (path, reference)
            loaded.add(urlsplit(target).path)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/docs/assets/redoc.standalone.js",
            "/openapi.json"} <= loaded
    for asset in sorted(loaded):
        answer = service.get(asset)  # no API key: a browser opening /docs sends none
        assert answer.status_code == 200 and answer.content, asset
        if asset.endswith(".css"):
            external = [r for r in _references(answer.text) if ANY_URL.match(r)]
            assert not external, (asset, external)


def test_swagger_ui_does_not_ask_the_online_validator(service) -> None:
    page = service.get("/docs").text
    assert '"validatorUrl": null' in page
