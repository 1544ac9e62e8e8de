"""What a browser would show of an HTML page: its title and its visible text.

Python's own ``html.parser`` is enough and as forgiving as a browser about
unclosed tags; a full HTML5 parser would add a dependency for two facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

INVISIBLE = {"head", "script", "style", "template", "noscript", "title"}


@dataclass(frozen=True)
class Page:
    """A page as a browser shows it: its title (None without a <title>) and its visible text."""

    title: str | None
    text: str


class _PageParser(HTMLParser):
    """Collects the title and the text outside invisible elements (head, script, style, ...)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] | None = None
        self.text: list[str] = []
        self._hidden: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and self.title is None:
            self.title = []
        if tag in INVISIBLE:
            self._hidden.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._hidden:
            while self._hidden and self._hidden.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._hidden and self._hidden[-1] == "title" and self.title is not None:
            self.title.append(data)
        elif not self._hidden:
            self.text.append(data)


def read_page(html: str) -> Page:
    """The title and visible text of ``html``, each with runs of whitespace made one space."""
    reader = _PageParser()
    reader.feed(html)
    reader.close()
    title = " ".join("".join(reader.title).split()) if reader.title is not None else None
    return Page(title=title, text=" ".join(" ".join(reader.text).split()))
