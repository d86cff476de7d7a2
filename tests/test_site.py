"""The wiki served (gitaccess.site) as its configuration describes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitaccess.config import Config, load_config
from gitaccess.errors import ConfigError
from gitaccess.site import Site


def test_the_earlier_first_letter_rule_leaves_recorded_layouts_as_they_were(tmp_path: Path) -> None:
    """Journals recorded before the setting existed keep their layout, hence their SHA-1s."""
    site = Site(Config(database_url=f"sqlite:///{tmp_path}/w.sqlite"))
    assert set(site.layout_settings()) == {"namespaces", "included", "extensions"}


def test_a_first_letter_rule_is_recorded_with_the_layout_and_read_back(tmp_path: Path) -> None:
    config = Config(database_url=f"sqlite:///{tmp_path}/w.sqlite", first_letter="title",
                    first_letter_overrides={"ß": "ß"})
    site = Site(config)
    settings = site.layout_settings()
    assert settings["first_letter"] == ["title", {"ß": "ß"}]
    codec = site.layout_from(settings).codec
    assert (codec.parse("ßx").dbkey, codec.parse("ǆx").dbkey) == ("ßx", "ǅx")
    assert site.titles.parse("ǆx").dbkey == "ǅx"


@pytest.mark.parametrize("toml, message", [
    ('first_letter = "lower"', "'first_letter': expected one of simple, upper, title"),
    ('first_letter_overrides = { "ab" = "AB" }', "'first_letter_overrides': expected single characters"),
])
def test_a_bad_first_letter_setting_is_named(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "gitaccess.toml").write_text(f"[wiki]\n{toml}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "gitaccess.toml", environ={})
