"""The demo page in a real browser: `riskmon demo` serves it, headless Chromium draws it.

The demo runs as a subprocess, as a user would start it; the test waits until every chart has
drawn data points and the transition feed has rows, checks the selections against the fund
projection the server answers, that the page logged no errors, and that Ctrl-C stops the demo
cleanly. A screenshot is left in .artifacts/demo-page.png.

Needs Debian's chromium and chromium-driver (`make tools` installs them): without them the test
skips, or fails under CI=true. Selenium is always given both binaries, so Selenium Manager never
downloads anything.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urljoin

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT: Final = Path(__file__).resolve().parents[2]
CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMEDRIVER: Final = Path("/usr/bin/chromedriver")
SCREENSHOT: Final = ROOT / ".artifacts" / "demo-page.png"
WIDTH: Final = 1400
HEIGHT: Final = 1000
DEMO: Final = [
    sys.executable, "-m", "streams.cli", "demo",
    "--scenario", "flash-crash", "--accounts", "1500", "--seed", "7",
    "--speed", "2000", "--duration", "120", "--port", "0",
]  # fmt: skip
URL_TIMEOUT_S: Final = 60.0
PAGE_TIMEOUT_S: Final = 90.0
EXIT_TIMEOUT_S: Final = 15.0
CHARTS: Final = ("levels-chart", "stress-chart", "liquidation-chart")

# Everything the wait needs, read in one script so the answer is one consistent moment.
PAGE_STATE: Final = """
const points = {};
for (const id of arguments[0]) {
  const node = document.getElementById(id);
  points[id] = node ? node.getAttribute("data-points") : null;
}
const value = (id) => {
  const node = document.getElementById(id);
  return node ? node.value : null;
};
const stress = document.getElementById("stress-chart");
const recommended = document.getElementById("stress-recommended");
const cascade = document.getElementById("stress-cascade");
const allocation = document.getElementById("stress-allocation");
return {
  points: points,
  cover: stress ? stress.getAttribute("data-cover-points") : null,
  cascade: stress ? stress.getAttribute("data-cascade-points") : null,
  recommended: recommended ? recommended.textContent : null,
  multiplier: cascade ? cascade.textContent : null,
  allocation: allocation ? allocation.textContent : null,
  rows: document.querySelectorAll("#transition-feed tr").length,
  asset: value("stress-asset"),
  symbol: value("liquidation-symbol"),
};
"""
# The what-if panel as drawn: its state, and the text of every cell of its three tables.
WHATIF_STATE: Final = """
const summary = document.getElementById("whatif-summary");
const cells = (selector) => [...document.querySelectorAll(selector)].map(
  (row) => [...row.cells].map((cell) => cell.textContent));
return {
  state: summary.dataset.state,
  changed: summary.dataset.changed === undefined ? null : Number(summary.dataset.changed),
  summary: summary.textContent,
  symbol: document.getElementById("whatif-symbol").value,
  levels: cells("#whatif-levels tbody tr"),
  funds: cells("#whatif-funds tbody tr"),
  rows: cells("#whatif-changed tr"),
};
"""
# Resolves after the browser has painted twice: charts redrawn for a new window size.
AFTER_PAINT: Final = """
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => done(true)));
"""


class Demo:
    """`riskmon demo` as a subprocess; its output is read on background threads."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            DEMO,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._lock = threading.Lock()
        self._stderr: list[str] = []
        self._urls: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_stderr, args=(self.process.stderr,), daemon=True),
            threading.Thread(target=self._drain, args=(self.process.stdout,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._stderr.append(line)
            if line.startswith("web: "):
                self._urls.put(line.removeprefix("web: ").strip())
        self._urls.put(None)

    @staticmethod
    def _drain(stream: IO[str]) -> None:
        for _ in stream:
            pass

    def stderr(self) -> str:
        with self._lock:
            return "".join(self._stderr)

    def url(self) -> str:
        """The page URL from the demo's `web: ` line."""
        try:
            url = self._urls.get(timeout=URL_TIMEOUT_S)
        except queue.Empty:
            pytest.fail(f"no 'web: ' line within {URL_TIMEOUT_S:.0f} s; stderr:\n{self.stderr()}")
        if url is None:
            self.process.wait()
            pytest.fail(
                f"the demo exited with {self.process.returncode} before serving; "
                f"stderr:\n{self.stderr()}"
            )
        return url

    def interrupt(self) -> int:
        """Ctrl-C; the exit status."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the demo did not stop within {EXIT_TIMEOUT_S:.0f} s of SIGINT; "
                f"stderr:\n{self.stderr()}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} missing: `make test` installs Debian's chromium")
        pytest.skip(f"{', '.join(missing)} missing: run make tools")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def demo() -> Iterator[Demo]:
    running = Demo()
    try:
        yield running
    finally:
        running.stop()


def drawn(state: dict[str, Any]) -> bool:
    """Every chart has data points, the stress chart its Cover-2 and cascade curves, and the
    feed rows."""
    points = {**state["points"], "cover": state["cover"], "cascade": state["cascade"]}
    return state["rows"] > 0 and all(
        isinstance(points[chart], str) and points[chart].isdigit() and int(points[chart]) > 0
        for chart in (*CHARTS, "cover", "cascade")
    )


def console_errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """SEVERE browser log entries, but for those the contract makes expected.

    Chromium logs every non-2xx fetch as a SEVERE network entry: a missing favicon, and
    /api/fund's 503 before the first fund projection, which the page shows as a waiting state.
    """
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    errors = []
    for entry in entries:
        text = str(entry.get("message", ""))
        if entry.get("level") != "SEVERE":
            continue
        if "favicon" in text and "404" in text:
            continue
        if entry.get("source") == "network" and "/api/fund" in text and " 503 " in text:
            continue
        if entry.get("source") == "network" and "/api/whatif" in text and " 400 " in text:
            continue  # check_whatif_panel asks for rates no tier table allows
        errors.append(entry)
    return errors


def test_demo_page_draws_every_chart(browser: webdriver.Chrome, demo: Demo) -> None:
    url = demo.url()
    browser.get(url)

    last: dict[str, Any] = {}

    def ready(driver: webdriver.Chrome) -> dict[str, Any] | bool:
        state: dict[str, Any] = driver.execute_script(PAGE_STATE, list(CHARTS))
        last.update(state)
        return state if drawn(state) else False

    try:
        state = WebDriverWait(browser, PAGE_TIMEOUT_S, poll_frequency=0.5).until(ready)
    except TimeoutException:
        pytest.fail(
            f"the page did not draw within {PAGE_TIMEOUT_S:.0f} s: {last}; "
            f"demo stderr:\n{demo.stderr()}"
        )
    assert isinstance(state, dict)

    with urllib.request.urlopen(urljoin(url, "api/fund"), timeout=10) as response:
        fund = json.load(response)
    assets = [entry["asset"] for entry in fund["funds"]]
    symbols = list(fund["liquidation_map"])
    assert state["asset"] in assets
    assert state["symbol"] in symbols
    if "USDT" in assets:
        assert state["asset"] == "USDT"
    shown = next(entry for entry in fund["funds"] if entry["asset"] == state["asset"])
    assert state["cover"] == str(len(shown["stress"]))  # every grid point has its Cover-2
    assert state["cascade"] == str(len(shown["stress"]))  # and its cascade
    assert re.fullmatch(r"\u00d7\d+\.\d\d", state["multiplier"]), state["multiplier"]  # x2.61
    assert state["recommended"] not in (None, "unknown")
    short = re.fullmatch(  # SPEC §8.3 at the smallest gap down the fund cannot cover
        r"at \u2212(\d+)%: ADL [\d,]+ positions \(.+ (\w+)\) or a \d+\.\d% haircut",
        state["allocation"] or "",
    )
    assert short or state["allocation"] == "covers every gap down", state["allocation"]
    if short:
        assert -int(short[1]) / 100 in [point["shock"] for point in shown["stress"]]
        assert short[2] == state["asset"]
    assert state["recommended"].endswith(" " + state["asset"])
    if "BTCUSDT" in symbols:
        assert state["symbol"] == "BTCUSDT"
    check_whatif_panel(browser, assets)

    assert console_errors(browser) == []

    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(WIDTH, max(HEIGHT, int(height)))
    browser.execute_async_script(AFTER_PAINT)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(browser.get_screenshot_as_png())
    assert SCREENSHOT.stat().st_size > 20_000

    assert demo.interrupt() == 0, demo.stderr()


def ask_whatif(browser: webdriver.Chrome, factor: str) -> dict[str, Any]:
    """Type `factor`, press the button, and wait for the panel's answer."""
    field = browser.find_element(By.ID, "whatif-factor")
    field.clear()
    field.send_keys(factor)
    browser.find_element(By.ID, "whatif-run").click()

    def answered(driver: webdriver.Chrome) -> dict[str, Any] | bool:
        panel: dict[str, Any] = driver.execute_script(WHATIF_STATE)
        return panel if panel["state"] in ("ready", "error") else False

    panel = WebDriverWait(browser, 30, poll_frequency=0.2).until(answered)
    assert isinstance(panel, dict)
    return panel


def check_whatif_panel(browser: webdriver.Chrome, assets: list[str]) -> None:
    """BTCUSDT's rates x1.5: accounts only move up, every level is counted on both sides, every
    fund has its row; x2 (the top tier's 0.5 becomes 1) is refused with the reason."""
    panel = ask_whatif(browser, "1.5")
    assert (panel["state"], panel["symbol"]) == ("ready", "BTCUSDT"), panel
    assert panel["summary"].startswith(f"BTCUSDT rates \u00d71.50: {panel['changed']:,} accounts")
    levels = ["safe", "watch", "margin call", "liquidation", "bankrupt"]
    assert [row[0] for row in panel["levels"]] == levels
    now, proposed = (sum(int(row[i].replace(",", "")) for row in panel["levels"]) for i in (1, 2))
    assert now == proposed > 0
    assert sorted(row[0] for row in panel["funds"]) == sorted(assets)
    for row in panel["funds"]:  # tiers do not enter the one-round stress (SPEC §8)
        assert (row[1], row[3]) == (row[2], row[4]), row
    shown = [row for row in panel["rows"] if len(row) == 4]
    assert len(shown) == min(panel["changed"], 50)
    for _, move, base_ratio, proposed_ratio in shown:
        base, moved = move.split("\u2192")
        assert levels.index(moved) > levels.index(base), move
        assert float(proposed_ratio) > float(base_ratio)
    refused = ask_whatif(browser, "2")
    assert refused["state"] == "error"
    assert refused["summary"].endswith("invalid tiers: mmr must be in (0, 1)"), refused["summary"]
