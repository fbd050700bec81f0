"""A web worker's memory: heavy libraries load when a feature needs them, not at start-up."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# fpdf2 with its font tools is ~30 MB of a worker's RSS; qrcode comes with it for job tickets;
# rq and redis (~7 MB) are for the `flask worker` command and for jobs sent to Redis.
LOADED_ON_FIRST_USE = ("fpdf", "fontTools", "qrcode", "rq", "redis")


def test_starting_the_app_does_not_load_the_pdf_or_job_queue_libraries(tmp_path):
    probe = (
        "import sys; from fixmyphone import create_app; create_app(); "
        f"print([m for m in {LOADED_ON_FIRST_USE!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "FIXMYPHONE_INSTANCE": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"
