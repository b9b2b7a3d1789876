"""Debian's headless Chromium, driven by Selenium (pinned in requirements-dev.txt) through Debian's
chromedriver, and the few things a user does in Airflow's UI: log in, fill a trigger form, read a
table. `make test` installs both Debian packages (scripts/install_chromium.sh)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# No background traffic: this machine's network is closed, and Chromium's calls home would be refused.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage")  # fmt: skip
T = TypeVar("T")


@contextmanager
def chromium(width: int = 1400, height: int = 3400, on_failure: Path | None = None) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile; a tall window, so a whole trigger form fits one screenshot.
    If the block fails, what the browser showed is saved to `on_failure`."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, f"missing {missing}: run `bash scripts/install_chromium.sh` (Debian's chromium, chromium-driver)"
    profile = tempfile.mkdtemp(prefix="chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)  # no Selenium Manager download
    try:
        with shown_on_failure(driver, on_failure):
            yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def shown_on_failure(driver: webdriver.Chrome, path: Path | None) -> Iterator[None]:
    """If the block fails, what the browser showed is saved to `path` (none when None)."""
    try:
        yield
    except BaseException:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(path))
        raise


class AirflowUi:
    """Airflow 3.3's UI at `url` in `driver`, as a user clicks through it."""

    def __init__(self, driver: webdriver.Chrome, url: str, timeout: float = 120) -> None:
        # generous: on a loaded 2-core machine the SPA and its API calls take many seconds to render
        self.driver, self.url, self.timeout = driver, url, timeout
        self.wait = WebDriverWait(driver, timeout)

    def retry(self, action: Callable[[], T]) -> T:
        """`action`, again while React re-renders the element under it (a stale reference)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return action()
            except TimeoutException:  # a wait inside `action` already waited its full time
                raise
            except WebDriverException:  # stale, or not clickable yet while the page renders
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def login(self, username: str, password: str) -> None:
        self.driver.get(f"{self.url}/")
        # The UI sends an anonymous visitor to its login page by script: a lookup in flight then is
        # "aborted by navigation" (a WebDriverException, which a wait does not ignore), so look again.
        self.retry(lambda: self.element("input[name=username]")).send_keys(username)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait.until(lambda d: "/auth/login" not in d.current_url)

    def open_trigger_form(self, dag_id: str) -> None:
        """The DAG's page, then its Trigger button: the form of its Params."""
        self.driver.get(f"{self.url}/dags/{dag_id}")
        self.retry(lambda: self.element("button[aria-label='Trigger Dag']").click())
        self.wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[id^=element_]")))

    def element(self, css: str) -> WebElement:
        return self.wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))

    def type_lines(self, param: str, lines: list[str]) -> None:
        """Replace a one-per-line text area's content (select all, delete, type), as a user would."""
        box = self.element(f"#element_{param}")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys("\n".join(lines))

    def options(self, param: str) -> list[str]:
        """What a select offers: its menu's option labels (opened, read, closed)."""
        self.retry(lambda: self.element(f"#element_{param} input").click())

        def labelled(driver: webdriver.Chrome) -> list[str] | None:
            """The labels once every option shows one: an option of a menu still opening is not yet
            displayed, and Selenium reads its text as '' (a loaded machine saw ['', '', ''])."""
            try:
                labels = [o.text for o in driver.find_elements(By.CSS_SELECTOR, f"#element_{param} [role=option]")]
            except StaleElementReferenceException:
                return None
            return labels if labels and all(labels) else None

        labels = self.wait.until(labelled)
        ActionChains(self.driver).send_keys(Keys.TAB).perform()  # not Escape: that closes the dialog
        return labels

    def pick(self, param: str, searches: list[str]) -> None:
        """Clear a multi-select, then pick the option each search text leaves first (type, Enter)."""
        self.retry(lambda: self.element(f"#element_{param} input").click())
        clear = ActionChains(self.driver)
        for _ in range(10):
            clear.send_keys(Keys.BACKSPACE)
        clear.perform()
        for text in searches:
            ActionChains(self.driver).send_keys(text).perform()
            # Enter only once the menu is filtered: the first option it shows is the one for `text`
            self.wait.until(lambda d, text=text: self._first_option(param).startswith(text))
            ActionChains(self.driver).send_keys(Keys.ENTER).perform()
        ActionChains(self.driver).send_keys(Keys.TAB).perform()

    def _first_option(self, param: str) -> str:
        options = self.driver.find_elements(By.CSS_SELECTOR, f"#element_{param} [role=option]")
        try:
            return options[0].text if options else ""
        except StaleElementReferenceException:
            return ""

    def submit_trigger(self) -> str:
        """The form's Trigger button; the id of the run it started (the run page it opens)."""
        before = self.driver.current_url
        buttons = [b for b in self.driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Trigger"]
        buttons[-1].click()  # the dialog's, below the page header's
        self.wait.until(lambda d: d.current_url != before and "/runs/" in d.current_url)
        return unquote(self.driver.current_url.split("/runs/", 1)[1].split("/")[0])

    def leave(self) -> None:
        """Go to a blank page: a run's page refreshes its grid from the API every few seconds while the run
        runs, which kept the renderer and the API server busy through a test's wait for the run (read by REST)."""
        self.driver.get("about:blank")

    def table_column(self, path: str, header: str, rows: int | None = None) -> list[str]:
        """Open `path` and read the column `header` of its table once it is rendered: every cell of the
        column has text (the skeleton rows shown while loading have none), and there are `rows` of them
        (any number when None). On a timeout the message says what the table showed."""
        self.driver.get(f"{self.url}{path}")
        seen: dict[str, list[str]] = {}

        def column(driver: webdriver.Chrome) -> list[str] | None:
            try:
                headers = [h.text.strip() for h in driver.find_elements(By.CSS_SELECTOR, "table thead th")]
                seen["headers"] = headers
                if header not in headers:
                    return None
                i = headers.index(header) + 1
                cells = [c.text.strip() for c in driver.find_elements(By.CSS_SELECTOR, f"table tbody tr td:nth-child({i})")]
            except StaleElementReferenceException:
                return None
            seen["cells"] = cells
            complete = bool(cells) and all(cells) and (rows is None or len(cells) == rows)
            return cells if complete else None

        try:
            return self.wait.until(column)
        except TimeoutException as e:
            raise TimeoutException(f"{path}: column {header!r} ({rows} rows) never showed; last seen {seen}") from e

    def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
        return path
