"""Which Chromium to drive, and how: found on this computer, never downloaded.

Playwright drives the Chromium (or Chrome) already installed
(``executable_path``): ``$WEBGRADE_CHROMIUM`` when set, else the usual places
on Debian, Ubuntu, snap, GitHub's runners and macOS.  Standard library only,
so a check can say why there is no browser without importing Playwright.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Mapping

#: An environment variable naming the browser to use, instead of looking for one.
ENV_VAR = "WEBGRADE_CHROMIUM"

#: Where Chromium or Chrome usually is (Debian, Ubuntu, snap, GitHub's runners, macOS).
PATHS = (
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/snap/bin/chromium",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: The features Playwright (1.65) turns off with its own --disable-features.  Chromium reads only
#: the last --disable-features it is given, and ours comes after Playwright's, so ours must repeat
#: them; tests/test_browser.py reads a launched Chromium's command line and fails when a newer
#: Playwright turns off a feature that is missing here.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
    "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)

#: Chrome's Local Network Access checks (Chrome 142+), off.  The browser answers the lesson's page
#: itself (``grader.check.browser``), so the page has no network address, and Chromium would count it
#: as public and block its fetch to 127.0.0.1.  The browser check only loads pages whose origin is on
#: this computer (loopback), and a real loopback page fetching a loopback server meets no such check,
#: so turning them off changes nothing a real browser would do there.
LOCAL_NETWORK_ACCESS = "LocalNetworkAccessChecks"

#: Work Chromium does for a person at the browser, which a grader's pages never use, and which
#: costs more CPU than the page itself (each page is in a fresh browser context):
#: - Chromium 156 preloads the omnibox's WebUI popup (chrome://omnibox-popup.top-chrome/) for every
#:   browser context, a renderer process costing about half a second of CPU per page;
#: - a spare renderer process is started ahead for the next page, which, being in a new context,
#:   can never use it.
#: Neither is the web platform: the address bar's popup is the browser's own UI, and which process
#: renders a page is invisible to it.
IDLE_WORK_FEATURES = (
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
    "WebUIOmniboxFullPopup",
    "SpareRendererForSitePerProcess",
)

#: Flags for a quiet, headless, offline-minded browser on a shared machine.
#: --no-sandbox: Chromium refuses to run as root with its sandbox, and the
#: sandbox needs user namespaces that containers and some CI runners deny; the
#: page is ours and the student's code already runs on this machine.
#: Playwright adds --headless and a fresh temporary --user-data-dir itself.
FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=" + ",".join((*PLAYWRIGHT_DISABLED_FEATURES, LOCAL_NETWORK_ACCESS, *IDLE_WORK_FEATURES)),
)


def install_command() -> str:
    """The one command that installs a browser on this kind of computer."""
    if platform.system() == "Darwin":
        return "brew install --cask chromium"
    return "sudo apt install chromium"


def in_ci() -> bool:
    """True on a CI runner (GitHub Actions and most others set CI=true)."""
    return os.environ.get("GITHUB_ACTIONS") == "true" or os.environ.get("CI", "").lower() in ("true", "1")


def find_chromium(env: Mapping[str, str] = os.environ, paths: tuple[str, ...] = PATHS) -> str | None:
    """The Chromium (or Chrome) to use: $WEBGRADE_CHROMIUM when set, else the first one installed."""
    chosen = env.get(ENV_VAR)
    if chosen:  # the instructor's choice is final: no silent fallback to another browser
        return chosen if os.path.isfile(chosen) and os.access(chosen, os.X_OK) else None
    for path in paths:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    for name in NAMES:
        if found := shutil.which(name):
            return found
    return None


def not_found_reason(env: Mapping[str, str] = os.environ) -> str:
    """Why :func:`find_chromium` found nothing, in one line."""
    if env.get(ENV_VAR):
        return f"{ENV_VAR}={env[ENV_VAR]} is not an executable file"
    return f"no Chromium or Chrome at {PATHS[0]} or on the PATH"
