"""Check the built documentation site in a real headless browser (Debian's Chromium).

Serves the HTML directory on localhost and opens every page in headless Chromium through
ChromeDriver (selenium). A page fails when it does not finish loading, logs a severe
browser-console error, shows an image that did not render (not complete, or zero natural
width), or links to a page or an ``#anchor`` of the site that does not exist.

Run::

    python docs/check_site.py docs/_build/html [--screenshots DIR]

Needs ``pip install selenium`` (the ``docs`` extra) and ``apt-get install chromium
chromium-driver``. Exit status 1 lists every failure.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import sys
import threading
import urllib.parse

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _serve(root: str):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)

    class Quiet(handler.func):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=root))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def _ids(path: str) -> set:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    return set(re.findall(r'\bid="([^"]+)"', text))


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--disable-gpu", "--window-size=1280,1600"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def _wait_loaded(driver, timeout: float = 20.0) -> str:
    import time
    end = time.monotonic() + timeout
    state = driver.execute_script("return document.readyState")
    while state != "complete" and time.monotonic() < end:
        time.sleep(0.1)
        state = driver.execute_script("return document.readyState")
    return state


def check(root: str, screenshots: str | None = None) -> list:
    root = os.path.abspath(root)
    pages = sorted(os.path.relpath(os.path.join(d, f), root)
                   for d, _, files in os.walk(root) for f in files
                   if f.endswith(".html") and "_static" not in d and "_sources" not in d)
    if not pages:
        return [f"no HTML pages under {root}"]
    server, base = _serve(root)
    driver = _driver()
    failures, ids_cache, n_images, n_links = [], {}, 0, 0
    try:
        for page in pages:
            url = urllib.parse.urljoin(base, page)
            driver.get(url)
            state = _wait_loaded(driver)
            if state != "complete":
                failures.append(f"{page}: did not finish loading ({state})")
            title = driver.title
            if not title or "404" in title:
                failures.append(f"{page}: no title / an error page ({title!r})")
            for entry in driver.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    failures.append(f"{page}: browser console error: {entry.get('message')}")
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.currentSrc || i.src, "
                "i.complete, i.naturalWidth]);")
            for src, complete, width in images:
                n_images += 1
                if not complete or not width:
                    failures.append(f"{page}: image did not render: {src}")
            links = driver.execute_script(
                "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);")
            for href in set(links):
                if not href.startswith(base):
                    continue                      # external: not checked (no network in CI)
                n_links += 1
                target, _, frag = href[len(base):].partition("#")
                target = urllib.parse.unquote(target) or "index.html"
                if target.endswith("/"):
                    target += "index.html"
                path = os.path.join(root, target)
                if not os.path.isfile(path):
                    failures.append(f"{page}: broken link to {target}")
                    continue
                if frag and target.endswith(".html"):
                    if path not in ids_cache:
                        ids_cache[path] = _ids(path)
                    if urllib.parse.unquote(frag) not in ids_cache[path]:
                        failures.append(f"{page}: link to a missing anchor {target}#{frag}")
            if screenshots:
                os.makedirs(screenshots, exist_ok=True)
                driver.save_screenshot(os.path.join(
                    screenshots, page.replace(os.sep, "_").replace(".html", ".png")))
    finally:
        driver.quit()
        server.shutdown()
    print(f"checked {len(pages)} pages, {n_images} images, {n_links} internal links in "
          f"headless Chromium: {len(failures)} failure(s)")
    return failures


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("html_dir")
    p.add_argument("--screenshots", metavar="DIR", help="save a screenshot of every page")
    args = p.parse_args(argv)
    failures = check(args.html_dir, args.screenshots)
    for f in failures:
        print("FAIL", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
