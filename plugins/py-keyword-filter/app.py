"""py-keyword-filter: a wapi filter plugin that refuses texts with blocked words or too many links.

Built into a WebAssembly component by componentize-py; see README.md.
Config, from `[plugins.py-keyword-filter]`: `blocked_words` (array of strings) and
`max_links` (number), both optional.
"""

import json
import re

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, types

# What counts as a link: anything starting with a scheme or `www.`, up to the next blank.
LINK = re.compile(r"(?:\bhttps?://|\bwww\.)\S+", re.IGNORECASE)


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.Info:
        return types.Info(version="0.1.0", hooks=[types.Hook.FILTER])

    def filter(self, message: types.Outgoing) -> types.Verdict:
        reason = refusal(message.text, blocked_words(), max_links())
        if reason is None:
            return types.Verdict_Allow()
        return types.Verdict_Refuse(reason)

    def template(self, message: types.Outgoing) -> types.Rendered:
        return types.Rendered_Keep()

    def on_event(self, event: types.Event) -> None:
        return None


def refusal(text: str, words: list[str], limit: int | None) -> str | None:
    """Why `text` is refused, or None when it may go."""
    for word in words:
        if contains_word(text, word):
            return f'the text contains the blocked word "{word}"'
    if limit is not None:
        links = len(LINK.findall(text))
        if links > limit:
            return f"the text has {links} links, more than the {limit} allowed"
    return None


def contains_word(text: str, word: str) -> bool:
    """Whether `word` occurs in `text` as a whole word, ignoring case. In a phrase, any run of
    blanks matches any other."""
    body = r"\s+".join(re.escape(part) for part in word.split())
    pattern = r"(?<!\w)" + body + r"(?!\w)"
    return re.search(pattern, text, re.IGNORECASE) is not None


def blocked_words() -> list[str]:
    """`blocked_words` from the config: a JSON array of strings, or nothing."""
    raw = host.config_get("blocked_words")
    if raw is None:
        return []
    try:
        words = json.loads(raw)
    except ValueError:
        words = None
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise Err("config key `blocked_words` must be an array of strings")
    return [w.strip() for w in words if w.strip()]


def max_links() -> int | None:
    """`max_links` from the config: a whole number of at least 0, or nothing."""
    raw = host.config_get("max_links")
    if raw is None:
        return None
    try:
        limit = int(raw)
    except ValueError:
        limit = -1
    if limit < 0:
        raise Err(f"config key `max_links` must be a whole number of at least 0, not {raw}")
    return limit
