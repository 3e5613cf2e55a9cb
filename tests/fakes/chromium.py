"""Where the browser tests find Debian's chromium: on PATH, exactly as scripts/test.sh looks for
it (`command -v chromium`) before deciding whether to install it, so the two never disagree
(a chromium the script accepts is the one the tests launch)."""

from __future__ import annotations

import shutil


def chromium_path() -> str | None:
    return shutil.which("chromium")
