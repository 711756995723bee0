"""Backend URLs as they may be shown: passwords hidden, a cluster's URLs split."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit


def redacted(url: str) -> str:
    """``url`` without its password (each URL of a comma-separated list), for error messages and logs."""
    if "," in url:
        return ",".join(redacted(part) for part in url.split(","))
    try:
        parts = urlsplit(url)
    except ValueError:  # not even a URL: hide whatever could be credentials
        return re.sub(r"//[^/@]*@", "//***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


__all__ = ["redacted"]
