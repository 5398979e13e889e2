from pathlib import Path

from schemas.tables import markdown_reference

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_shows_the_two_commands_and_the_current_column_reference():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    assert markdown_reference() in text, "README column reference is stale: run impartial schema-doc"
