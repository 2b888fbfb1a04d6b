"""Wiki40B markup to plain text.

A Wiki40B document is one string in which markers, each on a line of its own, open the blocks of
an article::

    \\n_START_ARTICLE_\\nTitle\\n_START_SECTION_\\nHeading\\n_START_PARAGRAPH_\\nOne_NEWLINE_Two\\n

``clean`` turns it into the text a language model is trained on:

1. the markers ``_START_ARTICLE_``, ``_START_SECTION_`` and ``_START_PARAGRAPH_`` split the document
   into blocks (the title, each section heading, each paragraph), wherever they stand;
2. inside a block, ``_NEWLINE_`` becomes a line break;
3. every line is stripped of surrounding whitespace and empty lines are removed;
4. the lines are joined by a single newline, so title, headings and paragraphs follow each other
   one per line, with no markup left.

The example above becomes ``"Title\\nHeading\\nOne\\nTwo"``. A document with nothing left (only
markup and whitespace) cleans to ``""``; callers drop such documents and count them.
"""

from __future__ import annotations

import re

BLOCK_MARKERS = ("_START_ARTICLE_", "_START_SECTION_", "_START_PARAGRAPH_")
NEWLINE_MARKER = "_NEWLINE_"
_BLOCK_SPLIT = re.compile("|".join(re.escape(marker) for marker in BLOCK_MARKERS))


def clean(text: str) -> str:
    """Plain text of one Wiki40B document (see the module docstring); ``""`` if nothing is left."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected str, got {type(text).__name__}")
    lines = []
    for block in _BLOCK_SPLIT.split(text):
        for line in block.replace(NEWLINE_MARKER, "\n").split("\n"):
            line = line.strip()
            if line:
                lines.append(line)
    return "\n".join(lines)
