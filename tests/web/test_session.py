"""The session cookie's attributes over HTTPS, where a browser test cannot reach (no certificate)."""

from __future__ import annotations

from pathlib import Path

from gitaccess.app import create_app
from gitaccess.wiki import standalone


def test_session_cookie_is_secure_over_https(make_site, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site = make_site(f"sqlite:///{tmp_path / 'wiki.sqlite'}")
    standalone.create(site.db)
    app = create_app(site.config)
    over_https = app.test_client().get("/-/login", base_url="https://wiki.example").headers["Set-Cookie"]
    over_http = app.test_client().get("/-/login", base_url="http://wiki.example").headers["Set-Cookie"]
    assert "; Secure" in over_https and "HttpOnly" in over_https and "SameSite=Lax" in over_https
    assert "; Secure" not in over_http
    key = tmp_path / "data" / "web-session-key"
    assert key.stat().st_mode & 0o777 == 0o600
