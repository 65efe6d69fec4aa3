"""The HTML report in headless Chromium: the table renders, a drill-down opens, nothing injected runs."""

import shutil
from pathlib import Path

import pytest

from evaluation.report import build_report
from tests.evaluation.fake_sweep import XSS, make_sweep

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file() or not Path(CHROMEDRIVER).is_file(),
                       reason="needs /usr/bin/chromium and chromedriver: apt-get install -y chromium chromium-driver"),
]


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install -e '.[dev]'")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
    yield driver
    driver.quit()


def test_table_and_drilldown_render(tmp_path, browser):
    from selenium.webdriver.common.by import By

    page = build_report(make_sweep(tmp_path))["html"]
    browser.get(page.as_uri())
    rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")]
    assert rows == [["prompt=chat", "2", "0.2000 [0.1250, 0.2500]", "0.3000 [0.2000, 0.4000]",
                     "3.2500 [3.0000, 3.5000]", "100.0%"],
                    ["prompt=seed", "2", "0.1000 [0.0500, 0.1500]", "missing", "2.5000 [2.0000, 3.0000]", "50.0%"]]
    imgs = browser.find_elements(By.CSS_SELECTOR, "img")
    assert len(imgs) == 3 and all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in imgs)

    q2 = browser.find_element(By.ID, "q-q2")
    answer = q2.find_element(By.CSS_SELECTOR, "td.answer")
    assert not answer.is_displayed()  # closed until clicked
    q2.find_element(By.TAG_NAME, "summary").click()
    assert answer.is_displayed()
    assert answer.text == XSS  # shown as text, not parsed as markup
    assert q2.find_element(By.CSS_SELECTOR, "tr").text.startswith("variant")
    assert [tr.get_attribute("data-variant") for tr in q2.find_elements(By.CSS_SELECTOR, "tbody tr")] == ["prompt=seed"]
    assert browser.execute_script("return window.__xss") is None

    q1 = browser.find_element(By.ID, "q-q1")
    q1.find_element(By.TAG_NAME, "summary").click()
    cells = [tr.text for tr in q1.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert len(cells) == 2 and "chat answer one" in cells[0] and "seed answer one" in cells[1]
    assert "Ref of q1." in q1.find_element(By.CSS_SELECTOR, "p.ref").text
    assert 'evidence_ids: ["e1", "e2"]' in cells[0]

    box = browser.find_element(By.ID, "filter")
    box.send_keys("chat only")
    shown = [d.get_attribute("id") for d in browser.find_elements(By.CSS_SELECTOR, "details.question")
             if d.is_displayed()]
    assert shown == ["q-q3"]
