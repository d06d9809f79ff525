"""Headless Chromium settings shared by the site's browser tests and benchmark."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("KDTAX_CHROMIUM", "/usr/bin/chromium"))
"""Debian's Chromium (package ``chromium``); ``$KDTAX_CHROMIUM`` points elsewhere."""

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
"""Without the network flags Chromium keeps trying to reach Google's hosts, which this machine refuses."""
