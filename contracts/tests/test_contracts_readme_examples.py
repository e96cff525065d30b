"""readme_connection and readme_blocks: a spoke README's examples, as its tests read them."""

from __future__ import annotations

import pytest

from spokehub_contracts.testing import readme_blocks, readme_connection, readme_project

README = """# Acme

```yaml
connections:
  crm:
    kind: destination
    spoke: acme
    config: {api_key: "${ACME_KEY}"}
routes:
  - {to: crm}
```

```python
print("hello")
```

```yaml
connections:
  shop: {kind: source, spoke: acme, config: {}}
```
"""


def test_the_blocks_of_a_language_in_order() -> None:
    assert readme_blocks(README, "python") == ['print("hello")\n']
    assert len(readme_blocks(README, "yaml")) == 2


def test_the_one_connection_of_each_example() -> None:
    pytest.importorskip("yaml")
    project, name, connection = readme_connection(README, "acme", "destination")
    assert name == "crm" and connection["config"] == {"api_key": "${ACME_KEY}"}
    assert project["routes"] == [{"to": "crm"}]
    _, name, _ = readme_connection(README, "acme", "source", example=1)
    assert name == "shop"


def test_a_missing_example_or_another_spoke_fails() -> None:
    pytest.importorskip("yaml")
    with pytest.raises(AssertionError, match="no yaml example number 3"):
        readme_project(README, example=2)
    with pytest.raises(AssertionError, match="crm"):
        readme_connection(README, "other", "destination")
