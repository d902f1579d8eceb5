"""Reading built HTML pages as text, the way a reader sees them."""

import html
import re


def page_text(markup: str) -> str:
    """Visible text of a page: scripts/styles dropped, tags removed, whitespace collapsed
    (spaces next to tags removed, so 'x=<span>0</span>.' reads 'x=0.')."""
    markup = re.sub(r"<(script|style)\b.*?</\1>", " ", markup, flags=re.S | re.I)
    text = re.sub(r"\s*<[^>]+>\s*", "", markup)
    text = html.unescape(re.sub(r"\s+", " ", text))
    # Sphinx's smartquotes turn ' and " into typographic quotes
    return text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))
