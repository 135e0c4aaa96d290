"""The README's screenshots, made from the demo: ``make screenshots``.

    .venv/bin/python scripts/screenshots.py                 # seed 42, into docs/screenshots/
    .venv/bin/python scripts/screenshots.py --seed 7 --out /tmp/shots

1. Seeds the demo (``manage.py seed_demo``, deterministic for a seed, anchored at the current
   time) into a throwaway SQLite database in var/screenshots/ (the folder is emptied on every
   run; the broker, outbox and cache of the run are there too: nothing reaches the development
   database or broker).
2. Mints progress links for the demo's showcase cases (``demo.showcase``, as ``seed_demo``
   prints them) and picks a "will be late" shipment for the late-delivery forecast.
3. Starts gunicorn (config.wsgi, as the Procfile does, DEBUG on so whitenoise serves the static
   files from the source folders) on a free loopback port.
4. Drives Debian's chromium with Playwright at 1280x800 (CSS pixels, device scale 1, UTC,
   en-US): the agent's console queue, a ticket, a shipment with its forecast panel; the
   supervisor's dashboard and approvals; the customer's progress page in English, in Chinese
   and on a phone (390x844). Tall pages are cut at --max-height.
5. Stops the server, whatever happened.

Every page must answer 200 (the login must succeed): otherwise the script fails rather than
save a login or error page as a screenshot.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var" / "screenshots"
DATABASE = VAR_DIR / "demo.sqlite3"
OUT_DIR = BASE_DIR / "docs" / "screenshots"

CHROMIUM = os.environ.get("DELAYDESK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "delaydesk-demo"  # demo.reference.DEMO_PASSWORD (checked after Django starts)
TIMEOUT_MS = 20_000
SIZE_WARNING = 400 * 1024  # a PNG above this is worth a look before committing


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42, help="demo seed (default 42)")
    parser.add_argument(
        "--shipments", type=int, default=None, help="demo shipments (default: seed_demo's)"
    )
    parser.add_argument(
        "--out", type=Path, default=OUT_DIR, help="folder for the PNGs (default docs/screenshots)"
    )
    parser.add_argument(
        "--max-height",
        type=int,
        default=1800,
        help="a full-page screenshot is cut at this many CSS pixels (default 1800)",
    )
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(port: int) -> dict[str, str]:
    """The settings of this run, for this process and the server alike."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DELAYDESK_ENV": "development",
        "DEBUG": "true",
        "DELAYDESK_VAR_DIR": str(VAR_DIR),
        "DATABASE_URL": f"sqlite:///{DATABASE}",
        "SITE_URL": f"http://127.0.0.1:{port}",
        # The embedded broker in var/screenshots/broker/ (what the run queues is never worked
        # and goes with the folder); the cache in the throwaway database.
        "CELERY_BROKER_URL": "filesystem://",
        "CACHE_URL": "",
        "LOG_LEVEL": "WARNING",
    }


# --- the data ------------------------------------------------------------------------------------


def fresh_folder() -> None:
    """var/screenshots/ (this script's alone: database, broker, outbox) empty."""
    if VAR_DIR.exists():
        shutil.rmtree(VAR_DIR)
    VAR_DIR.mkdir(parents=True)


def seed(*, seed: int, shipments: int | None) -> dict[str, str]:
    """Migrate and seed the throwaway database; the paths of the pages to take."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections
    from django.urls import reverse
    from django.utils import timezone

    from demo.reference import DEMO_PASSWORD
    from demo.showcase import mint_showcase, showcase_tickets
    from shipments.models import DelayLevel, Shipment
    from tickets.models import Ticket

    if DEMO_PASSWORD != PASSWORD:
        raise SystemExit(f"the demo password is now {DEMO_PASSWORD!r}: update {__file__}")
    started = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    options = {"seed": seed} if shipments is None else {"seed": seed, "shipments": shipments}
    # Its summary (and its own progress links) are not needed; the progress bar shows.
    call_command("seed_demo", stdout=io.StringIO(), verbosity=1, **options)
    print(f"seeded the demo (seed {seed}) in {time.monotonic() - started:.0f} s: {DATABASE}")

    now = timezone.now()
    tickets = {ticket.shipment.order_number: ticket for _what, ticket in showcase_tickets(now)}
    showcase = mint_showcase(now=now)
    english = next((link for link in showcase.links if link.language == "en"), None)
    chinese = next((link for link in showcase.links if link.language.startswith("zh")), None)
    if english is None or chinese is None:
        raise SystemExit("the demo has no English or no Chinese showcase case")
    ticket = tickets.get(english.order_number) or Ticket.objects.open().order_by("pk").first()
    warned = (
        Shipment.objects.active()
        .filter(delay_level=DelayLevel.WILL_BE_LATE)
        .order_by("promised_at", "pk")
        .values_list("public_id", flat=True)
        .first()
    )
    if warned is None:
        raise SystemExit("the demo has no shipment at level will_be_late")
    paths = {
        "ticket": reverse("tickets:ticket_detail", args=[ticket.public_id]),
        "shipment": reverse("shipments:shipment_detail", args=[warned]),
        # The token in clear (printed nowhere): the page's exchange opens the case.
        "customer_en": urlsplit(english.url).path,
        "customer_zh": urlsplit(chinese.url).path,
    }
    connections.close_all()  # the server has the database to itself from here
    return paths


# --- the server ----------------------------------------------------------------------------------


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=BASE_DIR, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited during start-up (exit {server.returncode})")
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                connection.request("GET", "/accounts/login/")
                if connection.getresponse().status == 200:
                    print(f"web: gunicorn on http://127.0.0.1:{port}/ (pid {server.pid})")
                    return server
            finally:
                connection.close()
        time.sleep(0.2)
    stop_server(server)
    raise SystemExit("gunicorn did not answer within 30 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- the browser ---------------------------------------------------------------------------------


class Camera:
    def __init__(self, browser, base_url: str, out: Path, max_height: int):
        self.browser = browser
        self.base_url = base_url
        self.out = out
        self.max_height = max_height
        self.saved: list[Path] = []

    def context(self, *, phone: bool = False, locale: str = "en-US"):
        options = {"viewport": PHONE, "is_mobile": True, "has_touch": True} if phone else {}
        context = self.browser.new_context(
            **{
                "viewport": DESKTOP,
                "device_scale_factor": 1,
                "locale": locale,
                "timezone_id": "UTC",
                "color_scheme": "light",
                "reduced_motion": "reduce",
                **options,
            }
        )
        context.set_default_timeout(TIMEOUT_MS)
        return context

    def open(self, page, path: str, *, landing: str | None = None) -> None:
        """Go to ``path``; the page must answer 200 (after redirects) at ``landing`` if given."""
        response = page.goto(self.base_url + path)
        if response is None or response.status != 200:
            status = response.status if response else "no answer"
            raise SystemExit(f"{path}: {status}")
        if landing is not None and not urlsplit(page.url).path.startswith(landing):
            raise SystemExit(f"{path} landed on {page.url}, expected {landing}")
        page.wait_for_load_state("networkidle")

    def log_in(self, page, username: str, next_path: str) -> None:
        page.goto(f"{self.base_url}/accounts/login/?next={next_path}")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(lambda url: urlsplit(url).path == next_path)
        page.wait_for_load_state("networkidle")

    def shoot(self, page, name: str, *, full_page: bool = True) -> None:
        page.wait_for_load_state("networkidle")
        path = self.out / f"{name}.png"
        options = {
            "path": str(path),
            "type": "png",
            "scale": "css",
            "animations": "disabled",
            "caret": "hide",
        }
        if full_page:
            # The whole page, or its top when it is taller than --max-height.
            width = page.viewport_size["width"]
            clip = {"x": 0, "y": 0, "width": width, "height": self.max_height}
            page.screenshot(full_page=True, clip=clip, **options)
        else:
            page.screenshot(**options)
        size = path.stat().st_size
        note = "  (large: check before committing)" if size > SIZE_WARNING else ""
        shown = path.relative_to(BASE_DIR) if path.is_relative_to(BASE_DIR) else path
        print(f"  {shown}  {size / 1024:.0f} KB{note}")
        self.saved.append(path)


def take(camera: Camera, paths: dict[str, str]) -> None:
    # The agent: the queue, a ticket, a shipment the model warns about.
    context = camera.context()
    page = context.new_page()
    camera.log_in(page, "agent", "/console/")
    page.get_by_role("heading", name="Ticket queue").wait_for()
    camera.shoot(page, "console-queue", full_page=False)
    camera.open(page, paths["ticket"], landing=paths["ticket"])
    camera.shoot(page, "console-ticket")
    camera.open(page, paths["shipment"], landing=paths["shipment"])
    # The forecast panel loads by htmx after the page.
    page.locator(
        "[data-shipment-risk] [data-risk-probability], [data-shipment-risk] [data-risk-empty],"
        " [data-shipment-risk] [data-risk-final]"
    ).first.wait_for()
    camera.shoot(page, "console-shipment-forecast")
    context.close()

    # The supervisor: the dashboard and the approvals.
    context = camera.context()
    page = context.new_page()
    camera.log_in(page, "supervisor", "/supervisor/")
    page.get_by_role("heading", name="Supervisor dashboard").wait_for()
    camera.shoot(page, "supervisor-dashboard")
    camera.open(page, "/supervisor/approvals/", landing="/supervisor/approvals/")
    camera.shoot(page, "supervisor-approvals")
    context.close()

    # The customer (no account): the link of a notice opens the case, in the customer's language.
    for name, link, options, full_page in (
        ("customer-progress-en", paths["customer_en"], {}, True),
        ("customer-progress-zh", paths["customer_zh"], {"locale": "zh-CN"}, True),
        ("customer-progress-phone", paths["customer_en"], {"phone": True}, False),
    ):
        context = camera.context(**options)
        page = context.new_page()
        camera.open(page, link, landing="/t/case/")
        page.locator("#case-title").wait_for()
        camera.shoot(page, name, full_page=full_page)
        context.close()


def main() -> None:
    args = parse_args()
    from playwright.sync_api import sync_playwright  # fails early when playwright is missing

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    sys.path.insert(0, str(BASE_DIR))
    port = free_port()
    env = environment(port)
    os.environ.update(env)
    fresh_folder()
    paths = seed(seed=args.seed, shipments=args.shipments)
    args.out.mkdir(parents=True, exist_ok=True)

    server = start_server(port, env)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                camera = Camera(browser, f"http://127.0.0.1:{port}", args.out, args.max_height)
                take(camera, paths)
            finally:
                browser.close()
    finally:
        stop_server(server)
    print(f"{len(camera.saved)} screenshots in {args.out}")


if __name__ == "__main__":
    main()
