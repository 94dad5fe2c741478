"""What may leave the machine in an outbound query: words, never personal or machine data.

`scrub` removes e-mail addresses, links, IP and MAC addresses, phone numbers, host and asset
names (words mixing letters and digits, like FIN-LT-0042), file paths, user handles and
anything that looks like a secret, then keeps a short query.
"""

from __future__ import annotations

import re

MAX_QUERY_WORDS = 12
_PATTERNS = [
    re.compile(r"\S+@\S+"),  # e-mail addresses and user@host
    re.compile(r"(?i)\b(?:https?://|www\.)\S+"),
    re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d+)?\b"),  # IPv4
    re.compile(r"(?i)\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{0,4}\b"),  # IPv6, MAC with colons
    re.compile(r"(?i)\b(?:[0-9a-f]{2}-){5}[0-9a-f]{2}\b"),  # MAC with dashes
    re.compile(r"\+?\d[\d ().-]{6,}\d"),  # phone numbers
    re.compile(r"(?:[A-Za-z]:)?[\\/]\S+"),  # paths, UNC shares
    re.compile(r"\b(?=[\w.-]*\d)(?=[\w.-]*[A-Za-z])[\w.-]{4,}\b"),  # hosts, assets, serials
    re.compile(r"\b[\w-]{20,}\b"),  # tokens, keys, hashes
    re.compile(r"\b\w+\.\w+\.\w+\b"),  # dotted names: hosts, first.last handles
    re.compile(r"[@#]\w+"),  # handles
]


def scrub(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(" ", text)
    words = re.findall(r"[A-Za-z][A-Za-z'+-]*", text)
    return " ".join(words[:MAX_QUERY_WORDS])
