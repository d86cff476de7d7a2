"""The web pages in a real headless Chromium: what a person sees, clicks and gets.

Each test leaves screenshots of the pages it saw in its tmp directory
(``screenshots/``), to look at when a test fails or a page changes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.support.wait import WebDriverWait

from gitaccess.journal.commits import SUMMARY_HIDDEN, USER_HIDDEN
from gitaccess.wiki import reader
from gitaccess.wiki.writer import Editor, WikiWriter
from tests.protocol_helpers import GitClient, rev_parse, run_git
from tests.push.test_receive_access import block
from tests.web.conftest import HIDDEN_SUMMARY, HIDDEN_TEXT, HIDDEN_USER, PAGE, VERSIONS, Served


def shot(browser: WebDriver, tmp_path: Path, name: str) -> None:
    """Save what the browser shows, as an artifact of the test."""
    folder = tmp_path / "screenshots"
    folder.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(folder / f"{name}.png"))


def text(browser: WebDriver) -> str:
    return browser.find_element(By.TAG_NAME, "body").text


def log_in(browser: WebDriver, base: str, name: str, password: str) -> None:
    browser.get(f"{base}/-/login")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(password)
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.login button"))


def follow(browser: WebDriver, element: WebElement) -> None:
    """Click a link or a form's button and wait for the page it leads to."""
    element.click()
    WebDriverWait(browser, 30).until(lambda _: _gone(element))
    # The new document is loaded before anything in it is looked for: a node found while it
    # loads may belong to the document being replaced.
    WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.readyState") == "complete")


def _gone(element: WebElement) -> bool:
    """Whether the element's document was replaced. Chromium reports it stale, or, while the
    new document loads, as a node that "does not belong to the document"."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def unlabelled_fields(browser: WebDriver) -> list[str]:
    """Visible form fields without a label a screen reader can read."""
    found: list[str] = browser.execute_script("""
        return [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(f => !(f.labels && f.labels.length) && !f.getAttribute('aria-label'))
            .map(f => f.outerHTML);""")
    return found


def test_front_page_commit_and_history(served_wiki: Served, browser: WebDriver, tmp_path: Path) -> None:
    base = served_wiki.base
    browser.get(f"{base}/")
    assert "/-/login" in browser.current_url  # nothing without the read right
    shot(browser, tmp_path, "login")
    log_in(browser, base, "Alice", "alice-secret")
    assert browser.current_url == f"{base}/"
    shot(browser, tmp_path, "front")
    assert browser.find_element(By.ID, "clone-url").get_attribute("value") == f"{base}/wiki.git"
    assert browser.find_element(By.ID, "copy-clone").is_displayed()  # the script shows it
    page = text(browser)
    assert f"git clone {base}/wiki.git" in page and "(Main)/" in page and "Template/" in page
    assert "Fourth words" in page and "Second words" in page and "+2 −1" in page
    assert HIDDEN_SUMMARY not in page and HIDDEN_USER not in page and SUMMARY_HIDDEN in page
    assert not unlabelled_fields(browser)
    browser.get(f"{base}/wiki.git")
    assert browser.find_element(By.ID, "clone-url").get_attribute("value") == f"{base}/wiki.git"

    follow(browser, browser.find_element(By.LINK_TEXT, "Second words"))
    assert re.search(r"/-/commit/[0-9a-f]{40}$", browser.current_url)
    shot(browser, tmp_path, "commit")
    added = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff ins")]
    removed = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff del")]
    assert added == ["+ BETA", "+ delta"] and removed == ["- beta"]
    assert "+2 −1 in 1 file" in text(browser)
    wiki_diff = browser.find_element(By.LINK_TEXT, f"revision {served_wiki.revisions[1]}").get_attribute("href")
    assert wiki_diff == f"https://wiki.example/w/index.php?diff={served_wiki.revisions[1]}"

    follow(browser, browser.find_element(By.LINK_TEXT, "History"))
    assert browser.current_url == f"{base}/-/history/{PAGE}"
    shot(browser, tmp_path, "history")
    rows = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "table.history tbody tr")]
    assert len(rows) == len(VERSIONS)
    assert "Fourth words" in rows[0] and "+1 −1" in rows[0]
    assert SUMMARY_HIDDEN in rows[1] and USER_HIDDEN in rows[1]
    assert "First words" in rows[3] and "+3 −0" in rows[3]
    assert HIDDEN_SUMMARY not in text(browser) and HIDDEN_USER not in text(browser)
    assert not unlabelled_fields(browser)
    browser.find_elements(By.CSS_SELECTOR, "input[name=old]")[3].click()
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Compare the chosen versions']"))
    shot(browser, tmp_path, "diff")
    assert "/-/diff/" in browser.current_url
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff ins")] == ["+ final"]
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "pre.diff del")] == ["- beta", "- gamma"]

    browser.set_window_size(390, 844)  # a phone
    browser.get(f"{base}/-/history/{PAGE}")
    shot(browser, tmp_path, "history-phone")
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")


def test_hidden_revision_never_shown(served_wiki: Served, browser: WebDriver, tmp_path: Path) -> None:
    base = served_wiki.base
    log_in(browser, base, "Alice", "alice-secret")
    browser.get(f"{base}/-/history/{PAGE}")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "table.history a")]
    commits = [link for link in links if "/-/commit/" in link]
    versions = [link for link in links if "/-/version/" in link]
    pages = commits + versions + [f"{base}/", f"{base}/-/diff/{PAGE}?old={commits[2].rsplit('/', 1)[1]}"
                                              f"&new={commits[0].rsplit('/', 1)[1]}"]
    for number, url in enumerate(pages):
        browser.get(url)
        shown = browser.page_source
        assert HIDDEN_TEXT not in shown and HIDDEN_SUMMARY not in shown and HIDDEN_USER not in shown, url
        shot(browser, tmp_path, f"hidden-{number}")
    for commit in commits[:2]:  # the hidden revision's own commit, and the next one, which removes its text
        browser.get(commit)
        assert "not shown: the wiki hides the text of a version on one side of it" in text(browser)
    browser.get(versions[1])
    assert "The text is not shown: the wiki hides this version's text." in text(browser)
    assert "Restore this version" not in text(browser)


def test_restore_makes_an_edit_and_a_commit(served_wiki: Served, browser: WebDriver, tmp_path: Path) -> None:
    base, site = served_wiki.base, served_wiki.site
    git = GitClient(tmp_path / "home", 2)
    clone = tmp_path / "clone"
    git("clone", f"http://Alice:alice-secret@{base.removeprefix('http://')}/wiki.git", str(clone))
    before = rev_parse(clone, "HEAD")
    log_in(browser, base, "Alice", "alice-secret")
    browser.get(f"{base}/-/history/{PAGE}")
    follow(browser, browser.find_elements(By.CSS_SELECTOR, "table.history td a[href*='/-/version/']")[-1])  # 1st
    shot(browser, tmp_path, "version")
    assert browser.find_element(By.CSS_SELECTOR, "pre.text").text == VERSIONS[0][0].strip()
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Restore this version']"))
    shot(browser, tmp_path, "restored")
    assert "Restored (Main)/Main_Page.wiki as commit" in text(browser)
    newest = browser.find_element(By.CSS_SELECTOR, "table.history tbody tr").text
    assert "Restore the version of 2026-01-01 12:00 UTC" in newest and "Alice" in newest and "+2 −1" in newest

    with site.db.read() as conn:
        page = reader.page_by_title(site.db, conn, 0, "Main_Page")
        assert page is not None and page.latest > served_wiki.revisions[-1]
        assert reader.revision_text(site.db, conn, page.latest) == VERSIONS[0][0]
    git("fetch", "origin", cwd=clone)
    fetched = rev_parse(clone, "origin/master")
    assert fetched != before and rev_parse(clone, "origin/master^") == before
    assert run_git("show", f"{fetched}:{PAGE}", cwd=clone).stdout == VERSIONS[0][0]


def test_restore_refused_without_token_when_stale_or_blocked(served_wiki: Served, browser: WebDriver,
                                                     tmp_path: Path) -> None:
    base, site = served_wiki.base, served_wiki.site
    log_in(browser, base, "Alice", "alice-secret")
    browser.get(f"{base}/-/history/{PAGE}")
    first = browser.find_elements(By.CSS_SELECTOR, "table.history td a[href*='/-/version/']")[-1]
    version_url = first.get_attribute("href")

    def latest() -> int:
        with site.db.read() as conn:
            page = reader.page_by_title(site.db, conn, 0, "Main_Page")
        assert page is not None
        return page.latest

    browser.get(version_url)
    browser.execute_script("document.querySelector(\"form[action*='/-/restore/'] input[name=token]\").remove()")
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Restore this version']"))
    shot(browser, tmp_path, "no-token")
    assert "this form has expired or did not come from this site" in text(browser)
    assert latest() == served_wiki.revisions[-1]

    browser.get(version_url)
    with site.db.write() as conn:
        alice = reader.user_by_name(site.db, conn, "Alice")
        assert alice is not None
        WikiWriter(site.db, conn, titles=site.titles).save(0, "Main_Page", "edited meanwhile\n",
                                                           editor=Editor("Alice", alice.id), summary="Meanwhile")
    edited = latest()
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Restore this version']"))
    shot(browser, tmp_path, "stale")
    assert "Not restored: (Main)/Main_Page.wiki changed since this version was shown" in text(browser)
    assert latest() == edited

    browser.get(version_url)
    with site.db.write() as conn:
        block(site, WikiWriter(site.db, conn), alice.id, "Alice", by="Alice")
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Restore this version']"))
    shot(browser, tmp_path, "blocked")
    assert "the wiki account 'Alice' is blocked on the wiki, so it cannot edit" in text(browser)  # read anew
    assert latest() == edited


def test_login_refusals(served_wiki: Served, browser: WebDriver, tmp_path: Path) -> None:
    base = served_wiki.base
    log_in(browser, base, "Bob", "bob-secret")
    assert "'Bob' lacks the right to read this repository" in text(browser)
    browser.get(f"{base}/-/history/{PAGE}")
    assert "/-/login" in browser.current_url
    for _ in range(5):
        log_in(browser, base, "Alice", "wrong")
        assert "wrong user name or password" in text(browser)
    log_in(browser, base, "Alice", "alice-secret")  # right, but too late: throttled as git's logins are
    shot(browser, tmp_path, "throttled")
    assert re.search(r"too many failed logins (from your address)?: try again in \d+ seconds", text(browser))
    cookie = next(c for c in browser.get_cookies() if c["name"] == "gitaccess_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]  # plain HTTP here


def test_logout(served_wiki: Served, browser: WebDriver, tmp_path: Path) -> None:
    base = served_wiki.base
    browser.get(f"{base}/-/login?next=//example.org/elsewhere")  # a link made to lead away after the login
    browser.find_element(By.ID, "name").send_keys("Alice")
    browser.find_element(By.ID, "password").send_keys("alice-secret")
    follow(browser, browser.find_element(By.CSS_SELECTOR, "form.login button"))
    assert browser.current_url == f"{base}/"
    assert "Logged in as Alice" in text(browser)
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Log out']"))
    assert "/-/login" in browser.current_url
    browser.get(f"{base}/")
    assert "/-/login" in browser.current_url


@pytest.mark.parametrize("served_wiki", [{"anonymous_read": True}], indirect=True)
def test_anonymous_reading(served_wiki: Served, browser: WebDriver, tmp_path: Path) -> None:
    base = served_wiki.base
    browser.get(f"{base}/")
    assert browser.find_element(By.ID, "clone-url").get_attribute("value") == f"{base}/wiki.git"
    browser.get(f"{base}/-/history/{PAGE}")
    assert "The wiki page Main Page lives at (Main)/Main_Page.wiki" in text(browser)
    follow(browser, browser.find_elements(By.CSS_SELECTOR, "table.history td a[href*='/-/version/']")[-1])
    shot(browser, tmp_path, "anonymous-version")
    assert browser.find_element(By.CSS_SELECTOR, "pre.text").text == VERSIONS[0][0].strip()
    assert "Log in to restore this version." in text(browser)
    assert not browser.find_elements(By.XPATH, "//button[text()='Restore this version']")
    browser.get(f"{base}/-/commit/{'0' * 40}")
    assert f"{'0' * 40} is not a commit of this wiki's history" in text(browser)


def test_a_large_commit_page_by_page(served_wiki: Served, browser: WebDriver, tmp_path: Path) -> None:
    base = served_wiki.base
    git = GitClient(tmp_path / "home", 2)
    clone = tmp_path / "clone"
    git("clone", f"http://Alice:alice-secret@{base.removeprefix('http://')}/wiki.git", str(clone))
    for number in range(25):
        (clone / "(Main)" / f"Page_{number:02}.wiki").write_text(f"page {number}\nsecond line\n")
    git("add", "-A", cwd=clone)
    git("-c", "user.name=Alice", "-c", "user.email=alice@example.org", "commit", "-q", "-m", "Many pages",
        cwd=clone)
    git("push", "origin", "master", cwd=clone)
    log_in(browser, base, "Alice", "alice-secret")
    follow(browser, browser.find_element(By.LINK_TEXT, "Many pages"))
    shot(browser, tmp_path, "large-commit")
    sections = browser.find_elements(By.CSS_SELECTOR, "section.file h2")
    assert len(sections) == 20 and sections[0].text.startswith("(Main)/Page_00.wiki +2 −0")
    assert "+50 −0 in 25 files" in text(browser) and "Files 1–20 of 25." in text(browser)
    follow(browser, browser.find_element(By.LINK_TEXT, "Next files"))
    assert [h.text.split()[0] for h in browser.find_elements(By.CSS_SELECTOR, "section.file h2")] == \
        [f"(Main)/Page_{number}.wiki" for number in range(20, 25)]
    assert "Files 21–25 of 25." in text(browser) and browser.find_elements(By.LINK_TEXT, "Previous files")
