"""Every page keeps its words in one table per language, and every language has every word."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.support import OpenPage, RunningStack

pytestmark = pytest.mark.e2e


WEB = Path(__file__).resolve().parents[2] / "web"
# Every strings table under web/ (strings.js, <part>-strings.js): a new one cannot be left out.
MODULES = sorted(
    "/" + path.relative_to(WEB).as_posix()
    for path in WEB.rglob("*strings.js")
    if path.name == "strings.js" or path.name.endswith("-strings.js")
)


@pytest.mark.parametrize("module", MODULES)
def test_every_language_has_every_string(module: str, stack: RunningStack, open_page: OpenPage) -> None:
    page = open_page("desktop")
    page.goto(f"{stack.web_url}/outbox/")
    keys = page.evaluate(
        """async (module) => {
            const { STRINGS } = await import(module);
            const flat = (node, prefix = '') => Object.entries(node).flatMap(([k, v]) =>
                typeof v === 'string' ? [prefix + k] : flat(v, `${prefix}${k}.`));
            return Object.fromEntries(Object.entries(STRINGS).map(([lang, table]) => [lang, flat(table).sort()]));
        }""",
        module,
    )
    assert set(keys) == {"en", "es"}
    assert keys["es"] == keys["en"]
