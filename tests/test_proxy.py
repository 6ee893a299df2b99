"""deploy/nginx.conf in front of real Stemlab servers: pages, sockets, votes, addresses, limits.

The config is the shipped file with three mechanical changes (see `render`): the upstream
servers, the listen address (or the commented TLS lines in its place), and where nginx keeps its
own files. The servers run on the database the suite runs on. nginx comes from the system
(`apt-get install nginx`; .ci/run installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import websockets

from tests.redis_server import SYSTEM_REDIS
from tests.server import ROOT, Server, free_port, join, running_server
from tests.test_durability import PASSWORD, _present, _question_id

pytestmark = pytest.mark.slow

NGINX_CONF = ROOT / "deploy" / "nginx.conf"
SHIPPED_UPSTREAMS = "        server app1:8000;\n        server app2:8000;\n"
SHIPPED_LISTEN = "        listen 8080;\n"
BODY_LIMIT = 256 * 1024
UNKNOWN_CODE = "12345678"


# The commented TLS lines of the shipped file, which docs/deploy.md says to use instead of
# its `listen 8080;`.
SHIPPED_TLS = re.compile(r"^        # ((?:listen 443 ssl|ssl_\w+ [^\n]*);)$", re.MULTILINE)


def render(upstreams: list[str], port: int, prefix: Path, *, tls: bool = False) -> str:
    """deploy/nginx.conf with these upstreams, listening on 127.0.0.1:port, its files in prefix.

    With `tls`, the TLS lines are uncommented in place of the plain listen line, with the
    certificate and key in prefix/certs.
    """
    text = NGINX_CONF.read_text()
    for part in (SHIPPED_UPSTREAMS, SHIPPED_LISTEN, "\nhttp {\n"):
        assert text.count(part) == 1, f"deploy/nginx.conf no longer contains {part!r} once"
    servers = "".join(f"        server {address};\n" for address in upstreams)
    listen = f"        listen 127.0.0.1:{port};\n"
    if tls:
        lines = SHIPPED_TLS.findall(text)
        assert lines[0] == "listen 443 ssl;", "deploy/nginx.conf no longer has the TLS lines"
        listen = (
            "".join(f"        {line}\n" for line in lines)
            .replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
            .replace("/etc/nginx/certs/", f"{prefix / 'certs'}/")
        )
    own_files = (
        "".join(
            f"    {kind}_temp_path {prefix / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"    access_log {prefix / 'access.log'};\n"
    )
    return (
        text.replace(SHIPPED_UPSTREAMS, servers)
        .replace(SHIPPED_LISTEN, listen)
        .replace("\nhttp {\n", "\nhttp {\n" + own_files)
    )


@contextmanager
def running_nginx(prefix: Path, upstreams: list[str], *, tls: bool = False) -> Iterator[str]:
    """nginx in the foreground with the rendered config; yields its URL."""
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if nginx is None:
        pytest.fail("nginx is not installed: apt-get install nginx (.ci/run installs it)")
    prefix.mkdir(exist_ok=True)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render(upstreams, port, prefix, tls=tls))
    error_log = prefix / "error.log"
    main = f"daemon off; pid {prefix / 'nginx.pid'}; error_log {error_log} info;"
    if os.geteuid() == 0:
        # Workers would otherwise run as nobody, who cannot enter pytest's private tmp_path.
        main += " user root;"
    process = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(conf), "-g", main],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def log() -> str:
        return error_log.read_text() if error_log.exists() else ""

    deadline = time.monotonic() + 10
    while True:
        if process.poll() is not None:
            assert process.stdout is not None
            pytest.fail(f"nginx did not start:\n{process.stdout.read()}{log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"nginx did not listen on {port}:\n{log()}")
            time.sleep(0.05)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _upstream(server: Server) -> str:
    return server.url.removeprefix("http://")


def _ws(url: str) -> str:
    return url.replace("http", "ws", 1)


async def _until(socket_, needle: str) -> str:
    async with asyncio.timeout(10):
        while True:
            frame = await socket_.recv()
            if re.search(needle, frame):
                return frame


async def test_a_session_runs_through_the_proxy(tmp_path, new_database):
    with (
        running_server(
            new_database,
            STEMLAB_DEMO_PASSWORD=PASSWORD,
            STEMLAB_TRUSTED_PROXIES="127.0.0.1",
            # No public URL: form posts and sockets are then allowed only from the address the
            # browser used, which the app knows only if nginx passes Host with its port.
            STEMLAB_PUBLIC_URL="",
        ) as server,
        running_nginx(tmp_path / "nginx", [_upstream(server)]) as proxy,
    ):
        through = replace(server, url=proxy)
        code, presentation_id, session_token = _present(through)
        question_id = _question_id(through, code)

        with httpx.Client(base_url=proxy) as phone:
            page = phone.get(f"/p/{code}")
            assert (
                page.status_code == 200 and f'name="question_id" value="{question_id}"' in page.text
            )
            participant = phone.cookies["stemlab_p"]
            script = phone.get("/static/vendor/htmx.min.js", headers={"Accept-Encoding": "gzip"})
            assert script.status_code == 200 and script.headers["content-encoding"] == "gzip"
            assert "content-encoding" not in page.headers  # pages carry CSRF tokens

        async with (
            websockets.connect(
                f"{_ws(proxy)}/ws/present/{presentation_id}",
                origin=proxy,
                additional_headers={"Cookie": f"stemlab_session={session_token}"},
            ) as screen,
            websockets.connect(
                f"{_ws(proxy)}/ws/p/{code}",
                origin=proxy,
                additional_headers={"Cookie": f"stemlab_p={participant}"},
            ) as phone_socket,
        ):
            await _until(screen, r'id="response-count"')
            await _until(phone_socket, f'name="question_id" value="{question_id}"')
            vote = {"question_id": question_id, "client_key": "k1", "s-s1": "4", "HEADERS": {}}
            await phone_socket.send(json.dumps(vote))
            reply = await _until(phone_socket, 'id="vote-status"')
            assert "Je stem is opgeslagen" in reply
            # Pushed by the server, not asked for: the presenter's count through the proxy.
            await _until(screen, r'id="response-count"[^>]*><strong>1<')


async def test_the_proxy_stops_oversized_bodies_and_metrics_requests(tmp_path, new_database):
    with (
        running_server(new_database, STEMLAB_SEED_DEMO="false") as server,
        running_nginx(tmp_path / "nginx", [_upstream(server)]) as proxy,
    ):
        # nginx's own refusal (the app refuses these too, with its own text).
        metrics = httpx.get(f"{proxy}/metrics")
        assert metrics.status_code == 403 and "403 Forbidden" in metrics.text
        at_limit = httpx.post(f"{proxy}/healthz", content=b"x" * BODY_LIMIT)
        # The app answered (its own headers, and it does not post to /healthz).
        assert at_limit.status_code == 405 and "content-security-policy" in at_limit.headers
        over = httpx.post(f"{proxy}/healthz", content=b"x" * (BODY_LIMIT + 1))
        # Refused by nginx before it reached the app (the app would refuse it too).
        assert over.status_code == 413 and "413 Request Entity Too Large" in over.text


def _guess(proxy: str, source: str, forwarded: str | None = None) -> int:
    """An unknown join code from the loopback address `source`; the status it gets."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source)) as client:
        return client.get(
            f"{proxy}/join", params={"code": UNKNOWN_CODE}, headers=headers
        ).status_code


async def _guess_over_socket(proxy: str, source: str) -> None:
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(
            f"{_ws(proxy)}/ws/p/{UNKNOWN_CODE}", origin=proxy, local_addr=(source, 0)
        ):
            pass


# Failed join-code lookups are limited per client address; with a limit of 2 an address's first
# guess gets 404 and its second 429, so the statuses show which address the app saw.
@pytest.mark.parametrize("trusted", ["127.0.0.1", "", "192.0.2.10"])
async def test_the_app_sees_the_client_address_only_when_it_trusts_the_proxy(
    tmp_path, trusted, new_database
):
    with (
        running_server(
            new_database,
            STEMLAB_SEED_DEMO="false",
            STEMLAB_JOIN_RATE_PER_MINUTE="2",
            STEMLAB_TRUSTED_PROXIES=trusted,
        ) as server,
        running_nginx(tmp_path / "nginx", [_upstream(server)]) as proxy,
    ):
        assert _guess(proxy, "127.0.0.2") == 404
        if trusted != "127.0.0.1":
            # Everybody is the proxy's address, whatever they claim.
            assert _guess(proxy, "127.0.0.3", forwarded="198.51.100.7") == 429
            return
        assert _guess(proxy, "127.0.0.2") == 429
        assert _guess(proxy, "127.0.0.3") == 404  # another address, its own count
        # Claiming to be 127.0.0.2 does not help 127.0.0.4: nginx appends the address it saw.
        assert _guess(proxy, "127.0.0.4", forwarded="127.0.0.2") == 404
        # Socket handshakes carry the address too: one guess over a socket, one over HTTP.
        await _guess_over_socket(proxy, "127.0.0.5")
        assert _guess(proxy, "127.0.0.5") == 429


async def test_a_worker_that_is_down_is_skipped(tmp_path, new_database):
    """Round robin over a live worker and a stopped one: every page and socket still works."""
    with (
        running_server(new_database, STEMLAB_DEMO_PASSWORD=PASSWORD) as server,
        running_nginx(tmp_path / "nginx", [_upstream(server), f"127.0.0.1:{free_port()}"]) as proxy,
    ):
        code, _, _ = _present(replace(server, url=proxy))
        for _ in range(4):
            with httpx.Client(base_url=proxy) as browser:
                cookie = {"Cookie": f"stemlab_p={join(browser, code)}"}
            async with websockets.connect(
                f"{_ws(proxy)}/ws/p/{code}", origin=proxy, additional_headers=cookie
            ) as phone:
                await _until(phone, 'name="question_id"')


def _certificate(directory: Path) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1 in `directory`; a client context trusting it."""
    directory.mkdir(parents=True)
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(directory / "privkey.pem"), "-out", str(directory / "fullchain.pem")),
        ],
        check=True,
        capture_output=True,
    )
    return ssl.create_default_context(cafile=directory / "fullchain.pem")


# X-Forwarded-Proto: behind TLS the browser's Origin is https://..., which the app accepts for a
# socket only when it believes the proxy that the request came over TLS.
@pytest.mark.parametrize("trusted", ["127.0.0.1", ""])
async def test_with_tls_at_the_proxy_the_app_knows_its_pages_are_https(
    tmp_path, trusted, new_database
):
    prefix = tmp_path / "nginx"
    client_tls = _certificate(prefix / "certs")
    with (
        running_server(
            new_database,
            STEMLAB_DEMO_PASSWORD=PASSWORD,
            STEMLAB_TRUSTED_PROXIES=trusted,
            STEMLAB_PUBLIC_URL="",
            STEMLAB_SECURE_COOKIES="true",
        ) as server,
        running_nginx(prefix, [_upstream(server)], tls=True) as proxy,
    ):
        code = re.search(r"/j/(\d{8})", server.text()).group(1)
        page = httpx.get(f"{proxy}/p/{code}", verify=client_tls)
        assert page.status_code == 200 and "; secure" in page.headers["set-cookie"].lower()
        phone = websockets.connect(f"{_ws(proxy)}/ws/p/{code}", origin=proxy, ssl=client_tls)
        if trusted:
            async with phone:
                pass
        else:
            with pytest.raises(websockets.InvalidStatus):
                async with phone:
                    pass


async def test_any_worker_serves_any_phone_with_plain_round_robin(tmp_path, new_database):
    """Two workers on one database and Redis behind the proxy: no request needs a given worker."""
    # On the suite's database; on SQLite, both workers share one file. (tests/test_scaleout.py
    # runs two workers on PostgreSQL through faults, without a proxy.)
    shared = {
        "STEMLAB_REDIS_URL": SYSTEM_REDIS,
        "STEMLAB_REDIS_PREFIX": f"stemlab-proxy-{secrets.token_hex(4)}",
        "STEMLAB_TRUSTED_PROXIES": "127.0.0.1",
        "STEMLAB_PUBLIC_URL": "",
    }
    with (
        running_server(new_database, STEMLAB_DEMO_PASSWORD=PASSWORD, **shared) as first,
        running_server(new_database, STEMLAB_SEED_DEMO="false", **shared) as second,
        running_nginx(tmp_path / "nginx", [_upstream(first), _upstream(second)]) as proxy,
    ):
        through = replace(first, url=proxy)
        code, presentation_id, session_token = _present(through)
        question_id = _question_id(through, code)
        async with contextlib.AsyncExitStack() as stack:
            screen = await stack.enter_async_context(
                websockets.connect(
                    f"{_ws(proxy)}/ws/present/{presentation_id}",
                    origin=proxy,
                    additional_headers={"Cookie": f"stemlab_session={session_token}"},
                )
            )
            # Each phone joins through the proxy (so at either worker), and consecutive
            # handshakes alternate between the two workers: a token one worker issued is
            # accepted by the other.
            cookies = []
            for _ in range(6):
                with httpx.Client(base_url=proxy) as browser:
                    cookies.append(join(browser, code))
            phones = [
                await stack.enter_async_context(
                    websockets.connect(
                        f"{_ws(proxy)}/ws/p/{code}",
                        origin=proxy,
                        additional_headers={"Cookie": f"stemlab_p={cookie}"},
                    )
                )
                for cookie in cookies
            ]
            for i, phone in enumerate(phones):
                await _until(phone, f'name="question_id" value="{question_id}"')
                vote = {"question_id": question_id, "client_key": f"k{i}", "s-s1": "3"}
                await phone.send(json.dumps({**vote, "HEADERS": {}}))
                assert "Je stem is opgeslagen" in await _until(phone, 'id="vote-status"')
                # Each vote reaches the screen, whichever worker took it and holds the screen.
                await _until(screen, rf'id="response-count"[^>]*><strong>{i + 1}<')
            # The facilitator moves on (through either worker): every phone follows.
            with httpx.Client(base_url=proxy, cookies={"stemlab_session": session_token}) as web:
                page = web.get("/manage").text
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
                moved = web.post(
                    f"/present/{presentation_id}/move", data={"csrf_token": csrf, "to": "next"}
                )
                assert moved.status_code < 400
            for phone in phones:
                frame = await _until(phone, r'name="question_id" value="(\d+)"')
                assert f'name="question_id" value="{question_id}"' not in frame
