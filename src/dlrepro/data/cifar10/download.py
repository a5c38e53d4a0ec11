"""Downloading the official archive, only on request (``dlrepro data cifar10 --download``).

The bytes go to a temporary file beside the destination and are renamed into place only once their MD5 is
the official one, so an interrupted or corrupt download never leaves a file that looks like the archive.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.request
from pathlib import Path

from dlrepro.data.cifar10.dataset import ARCHIVE_MD5, one_line, progress
from dlrepro.errors import DatasetError
from dlrepro.files import atomic_file


def fetch_archive(url: str, dest: Path) -> None:
    """Fetch ``url`` to ``dest`` through a temporary file, checking the official MD5 before renaming."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    by_hand = f"download {url} by hand and put it at {dest}"
    digest = hashlib.md5(usedforsecurity=False)
    with atomic_file(dest) as out:  # renamed into place only when the block ends: after the MD5 check
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with progress(total=total, desc=f"downloading {dest.name}", unit="B", unit_scale=True) as bar:
                    while chunk := response.read(1 << 20):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError, timeouts, bad replies
            raise DatasetError(f"download of {url} failed ({one_line(exc)}): {by_hand}") from exc
        if digest.hexdigest() != ARCHIVE_MD5:
            raise DatasetError(
                f"the download of {url} is corrupt (MD5 {digest.hexdigest()}, expected {ARCHIVE_MD5}): "
                f"retry, or {by_hand}"
            )
