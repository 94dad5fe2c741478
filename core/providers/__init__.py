"""External capabilities behind one seam each: chat model, embeddings, web search.

Each has a real online implementation (used when its key is set) and a real offline one.
"""

from __future__ import annotations


class ProviderUnavailable(Exception):
    """A provider could not answer (no network, timeout, quota); callers record a skipped step."""
