"""PNG and HTML of an evidence subgraph; the HTML also in headless Chromium (slow)."""

import shutil
from pathlib import Path

import pytest

from kg.linking import EntityLinker
from kg.retrieval import Evidence, MindMapRetriever
from kg.viz import evidence_subgraph, layout, render_html, render_png
from tests.kg.conftest import ONE_HOT, four_node_graph

XSS = '<img src=x onerror="window.__xss=1">'
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), shutil.which("chromedriver") or "/usr/bin/chromedriver"


def evidence(question="How does alpha relate to gamma?"):
    G = four_node_graph()
    G.nodes["delta"]["definition"] = XSS
    ev = MindMapRetriever(G, None, EntityLinker.from_graph(G, ONE_HOT), top_paths=1).retrieve(question)
    return G, ev


def test_subgraph_marks_linked_nodes_and_path_edges():
    G, ev = evidence()
    S = evidence_subgraph(G, ev)
    assert list(S.nodes) == ["alpha", "gamma", "beta", "delta"]
    assert [n for n, a in S.nodes(data=True) if a["linked"]] == ["alpha", "gamma"]
    assert sorted(a["edge_id"] for *_, a in S.edges(data=True) if a["on_path"]) == ["alpha|is_a|beta",
                                                                                  "beta|uses|gamma"]
    pos = layout(S)
    assert pos == layout(S) and all(0 <= x <= 960 and 0 <= y <= 640 for x, y in pos.values())


def test_png_is_written(tmp_path):
    G, ev = evidence()
    p = render_png(G, ev, tmp_path / "q.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    empty = render_png(G, Evidence("What is love?"), tmp_path / "empty.png")
    assert empty.read_bytes()[:4] == b"\x89PNG"


def test_html_is_self_contained_and_escaped(tmp_path):
    G, ev = evidence(f"alpha and gamma {XSS}")
    text = render_html(G, ev, tmp_path / "q.html").read_text()
    assert text.count('<g class="node" ') == 2 and text.count('<g class="node linked"') == 2
    assert text.count('<g class="edge on-path"') == 2 and ">is_a</text>" in text
    assert XSS not in text and "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;" in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in text


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.is_file() or not Path(CHROMEDRIVER).is_file(),
                    reason="needs /usr/bin/chromium and chromedriver: apt-get install -y chromium chromium-driver")
def test_html_draws_the_nodes_in_headless_chromium(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install -e '.[dev]'")
    from selenium.webdriver.common.by import By

    G, ev = evidence(f"alpha and gamma {XSS}")
    page = render_html(G, ev, tmp_path / "q.html")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
    try:
        driver.get(page.as_uri())
        nodes = driver.find_elements(By.CSS_SELECTOR, "svg#graph g.node")
        assert [n.get_attribute("data-id") for n in nodes] == ["alpha", "gamma", "beta", "delta"]
        boxes = [driver.execute_script("const b=arguments[0].getBBox();return [b.width,b.height]", n) for n in nodes]
        assert all(w > 10 and h > 10 for w, h in boxes)  # circle + label actually rendered
        assert [n.find_element(By.TAG_NAME, "text").text for n in nodes] == ["alpha", "gamma", "beta", "delta"]
        radii = [n.find_element(By.TAG_NAME, "circle").get_attribute("r") for n in nodes]
        assert radii == ["14", "14", "9", "9"]
        lines = driver.find_elements(By.CSS_SELECTOR, "g.edge.on-path line")
        assert len(lines) == 2 and all(
            driver.execute_script("return getComputedStyle(arguments[0]).strokeWidth", ln) == "3.5px" for ln in lines)
        nodes[3].find_element(By.TAG_NAME, "circle").click()
        assert driver.find_element(By.ID, "details").text == f"delta (cs): {XSS}"
        assert driver.find_element(By.TAG_NAME, "h1").text == f"alpha and gamma {XSS}"
        assert driver.execute_script("return window.__xss") is None
        # Dragging a node moves it and the ends of its edges.
        from selenium.webdriver import ActionChains

        edge = driver.find_element(By.CSS_SELECTOR, 'g.edge[data-edge-id="alpha|is_a|beta"] line')
        before = edge.get_attribute("x1"), nodes[0].get_attribute("transform")
        ActionChains(driver).drag_and_drop_by_offset(nodes[0].find_element(By.TAG_NAME, "circle"), 40, 30).perform()
        after = edge.get_attribute("x1"), nodes[0].get_attribute("transform")
        assert after[0] != before[0] and after[1] != before[1]
    finally:
        driver.quit()
