"""The report as people see it: headless Chromium for the HTML, poppler for the PDF."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOPPM = shutil.which("pdftoppm")
PDFTOTEXT = shutil.which("pdftotext")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium binary not installed (apt-get install chromium)")
needs_poppler = pytest.mark.skipif(
    PDFTOPPM is None or PDFTOTEXT is None,
    reason="pdftoppm/pdftotext not installed (apt-get install poppler-utils)")


def _chromium(args: list[str], profile) -> subprocess.CompletedProcess:
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--enable-logging=stderr", "--v=0"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=180)


@needs_chromium
@pytest.mark.parametrize("width", [1200, 375])
def test_html_renders_in_headless_chromium(rendered, tmp_path, width):
    shot = tmp_path / f"shot_{width}.png"
    proc = _chromium([f"--screenshot={shot}", f"--window-size={width},2000",
                      rendered["html_path"].as_uri()], tmp_path / "profile")
    assert shot.is_file(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[1] == width
    assert pixels.std() > 20  # text, badges and figures, not a blank page
    assert (pixels < 100).mean() > 0.01
    errors = [line for line in proc.stderr.splitlines()
              if "Uncaught" in line or ("CONSOLE" in line and "rror" in line)
              or "net::ERR" in line]
    assert errors == []


@needs_chromium
def test_chromium_parses_the_full_dom(rendered, tmp_path):
    proc = _chromium(["--dump-dom", rendered["html_path"].as_uri()], tmp_path / "profile")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'id="methods"' in proc.stdout and "10. Methods appendix" in proc.stdout
    assert "Uncaught" not in proc.stderr


@needs_poppler
def test_pdf_pages_have_content_header_and_page_numbers(rendered, tmp_path):
    pdf = rendered["pdf_path"]
    subprocess.run([PDFTOPPM, "-png", "-r", "50", str(pdf), str(tmp_path / "page")],
                   check=True, timeout=300)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 9 / 2
    for page in pages:
        gray = np.asarray(Image.open(page).convert("L"))
        assert (gray < 200).mean() > 0.002, page.name  # every page has ink on it
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True, timeout=120).stdout
    n = len(pages)
    assert f"Page 1 of {n}" in text and f"Page {n} of {n}" in text
    assert text.count("clinic-demo") >= n  # run name in every page header
    assert re.search(r"1\. Verdict", text) and "10. Methods appendix" in text
