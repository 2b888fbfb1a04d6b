"""Wiki40B markup cleaning, on exact strings."""

import pytest

from fastmax.data.wiki40b import clean

ARTICLE = (
    "\n_START_ARTICLE_\nTrain station\n"
    "_START_PARAGRAPH_\nA train station is a railway facility._NEWLINE_It has platforms.\n"
    "_START_SECTION_\nHistory\n"
    "_START_PARAGRAPH_\nThe first one opened in 1830.\n"
    "_START_SECTION_\nSee also\n"
    "_START_PARAGRAPH_\nBus station_NEWLINE_Airport\n"
)


def test_full_article_becomes_lines_of_title_sections_and_paragraphs():
    assert clean(ARTICLE) == (
        "Train station\n"
        "A train station is a railway facility.\n"
        "It has platforms.\n"
        "History\n"
        "The first one opened in 1830.\n"
        "See also\n"
        "Bus station\n"
        "Airport"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\n_START_ARTICLE_\nTitle only\n", "Title only"),
        ("_START_PARAGRAPH_\nOne_NEWLINE__NEWLINE_Two\n", "One\nTwo"),
        ("_START_PARAGRAPH_\n  padded  _NEWLINE_  line \n", "padded\nline"),
        ("_START_ARTICLE_ Inline title _START_PARAGRAPH_ inline text", "Inline title\ninline text"),
        ("plain text without markup", "plain text without markup"),
        ("_START_PARAGRAPH_\nünïcödé — 日本語 _NEWLINE_🙂\n", "ünïcödé — 日本語\n🙂"),
        (
            "_START_PARAGRAPH_\nsnake_case and _START_ not a marker\n",
            "snake_case and _START_ not a marker",
        ),
        ("\r\n_START_PARAGRAPH_\r\nwindows line\r\n", "windows line"),
    ],
)
def test_cleaning_exact(text, expected):
    assert clean(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "\n_START_ARTICLE_\n\n_START_SECTION_\n_START_PARAGRAPH_\n\n",
        "_START_PARAGRAPH_\n_NEWLINE__NEWLINE_ \n",
    ],
)
def test_documents_of_only_markup_clean_to_empty(text):
    assert clean(text) == ""


def test_no_markup_survives_in_cleaned_text():
    cleaned = clean(ARTICLE)
    for marker in ("_START_ARTICLE_", "_START_SECTION_", "_START_PARAGRAPH_", "_NEWLINE_"):
        assert marker not in cleaned


def test_non_string_is_a_type_error():
    with pytest.raises(TypeError, match="text: expected str"):
        clean(b"_START_ARTICLE_\nbytes\n")
