"""`reconciler render` output: YAML every common reader reads back as it was meant."""

from __future__ import annotations

from ruamel.yaml import YAML

from reconciler.cli.render import yaml_documents
from reconciler.core.model import Desired, DesiredApp, DesiredEnvironment


def test_yaml_output_quotes_what_yaml_1_1_would_read_as_booleans_or_null() -> None:
    body = {"id": "/int/redis", "cmd": "redis-server", "args": ["--appendonly", "no", "on", "~", "nothing"],
            "env": {"FLAG": "yes", "N": "3"}, "instances": 1}
    app = DesiredApp("/int/redis", "int", "redis", body, 1, source="specs/int.yaml:3")
    desired = Desired(environments={"int": DesiredEnvironment("int", "/int", apps=("redis",))},
                      apps={app.app_id: app}, revision="r")
    text = yaml_documents(desired)
    assert '- "no"' in text and '- "on"' in text and '- "~"' in text and "- nothing" in text
    assert 'FLAG: "yes"' in text
    old_reader = YAML(typ="safe", pure=True)
    old_reader.version = (1, 1)  # the YAML 1.1 rules PyYAML and most tools follow
    [document] = [d for d in old_reader.load_all(text) if d]
    assert document["args"] == ["--appendonly", "no", "on", "~", "nothing"]
    assert document["env"] == {"FLAG": "yes", "N": "3"}
