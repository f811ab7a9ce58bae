"""/downloads answers HTTP range requests as RFC 9110 says: what the point-cloud view (COPC over
ranges), GDAL's /vsicurl/ (COGs) and any resuming download rely on."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from geoportal.core.publish import read_metadata
from geoportal.core.settings import Settings

pytestmark = [pytest.mark.server]
SIZE = 10_000  # the first bytes of the COPC file are what the tests compare


class Download:
    """One served COPC file: GET with headers, and its true bytes from the published folder."""

    def __init__(self, url: str, body: bytes) -> None:
        self.url, self.body, self.size = url, body, len(body)

    def get(self, headers: dict[str, str] | None = None) -> requests.Response:
        return requests.get(self.url, headers=headers or {}, timeout=30)


@pytest.fixture(scope="module")
def copc(server: str, portal: Settings) -> Download:
    record = read_metadata(portal.published_dir, "point_cloud").files[0]
    body = (portal.published_dir / "point_cloud" / record.path).read_bytes()
    return Download(f"{server}/downloads/point_cloud/{record.path}", body)


def ranged(copc: Download) -> Callable[[str], requests.Response]:
    return lambda asked: copc.get({"Range": asked})


def test_a_whole_file_says_it_takes_ranges(copc: Download) -> None:
    response = copc.get()
    assert response.status_code == 200 and response.content == copc.body
    assert response.headers["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize("asked, first, last", [
    ("bytes=0-374", 0, 374),  # a COPC reader's first read: the LAS header
    ("bytes=375-1023", 375, 1023),
    ("bytes=9000-9999", 9000, SIZE - 1),
])
def test_a_range_is_answered_with_206_and_its_content_range(copc: Download, asked: str,
                                                            first: int, last: int) -> None:
    response = ranged(copc)(asked)
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{copc.size}"
    assert int(response.headers["Content-Length"]) == last - first + 1
    assert response.content == copc.body[first:last + 1]


def test_open_and_suffix_ranges_reach_the_end_of_the_file(copc: Download) -> None:
    n = copc.size
    tail = ranged(copc)("bytes=-100")
    assert tail.status_code == 206 and tail.content == copc.body[-100:]
    assert tail.headers["Content-Range"] == f"bytes {n - 100}-{n - 1}/{n}"
    rest = ranged(copc)(f"bytes={n - 50}-")
    assert rest.status_code == 206 and rest.content == copc.body[-50:]
    beyond = ranged(copc)(f"bytes={n - 10}-{n + 5000}")  # an end past the file is cut to it
    assert beyond.headers["Content-Range"] == f"bytes {n - 10}-{n - 1}/{n}"


def test_a_range_beyond_the_file_is_416_with_the_size(copc: Download) -> None:
    for asked in (f"bytes={copc.size}-", f"bytes={copc.size + 10}-{copc.size + 20}"):
        response = ranged(copc)(asked)
        assert response.status_code == 416, asked
        assert response.headers["Content-Range"] == f"bytes */{copc.size}"


@pytest.mark.parametrize("asked", ["bytes=abc", "lines=0-10", "bytes=50-10"])
def test_a_malformed_range_is_not_a_part(copc: Download, asked: str) -> None:
    """RFC 9110 §14.2: a Range header the server cannot parse is ignored (the whole file), or
    refused as unsatisfiable; never a wrong part."""
    response = ranged(copc)(asked)
    assert response.status_code in (200, 416), response.status_code
    if response.status_code == 200:
        assert response.content == copc.body


def test_if_range_of_an_old_version_sends_the_whole_new_file(copc: Download) -> None:
    etag = copc.get().headers["ETag"]
    fresh = copc.get({"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == copc.body[:10]
    stale = copc.get({"Range": "bytes=0-9", "If-Range": '"an-older-version"'})
    assert stale.status_code == 200 and stale.content == copc.body
