"""Schemathesis over the OpenAPI document against the ASGI app: no 5xx, and every response is
documented and matches its schema (a bounded number of generated requests)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wallboard.history.reports import CATALOGUE

from .test_reports import DAY_ONE, DAY_TWO, auth, make_client

SNAPSHOT = {
    "queues": {
        "sales": {
            "members": {"PJSIP/1": {"name": "Alice", "status_text": "available", "penalty": 0}},
            "callers": {"u1": {"callerid_num": "555", "callerid_name": "Ann", "position": 1}},
            "counters": {"received": 2, "answered": 1},
        },
        "support": {"members": {}, "callers": {}, "counters": {}},
    }
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def operation(tmp_path_factory: pytest.TempPathFactory):
    client = make_client(
        tmp_path_factory.mktemp("fuzz"), DAY_ONE + DAY_TWO, timezone="Europe/Paris"
    )
    # A live state, so `realtime` answers 200 rather than its documented 503.
    client.app.state.live = SimpleNamespace(state=SimpleNamespace(snapshot=lambda: SNAPSHOT))
    schema = schemathesis.openapi.from_asgi("/stats/rest/openapi.json", client.app)
    return schema["/stats/rest/index.php"]["GET"]


# Entities to aim at (schemathesis alone mostly draws the short ones); None keeps its draw.
ENTITIES = [None, "reports", "queues", "agents", "queues/-1", "agents/1", "call/c4", "call/c1",
            "search", "realtime"] + [f"reports/{report.name}" for report in CATALOGUE]  # fmt: skip


def fuzz(operation, user: str, mode: GenerationMode, examples: int) -> Counter[tuple[str, int]]:
    seen: Counter[tuple[str, int]] = Counter()

    @given(case=operation.as_strategy(generation_mode=mode), entity=st.sampled_from(ENTITIES))
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def run(case, entity: str | None) -> None:
        if entity is not None:
            case.query = {**(case.query or {}), "entity": entity}
        response = case.call_and_validate(headers=auth(user), checks=CHECKS)
        kind = str((case.query or {}).get("entity", "")).partition("/")[0]
        seen[(kind, response.status_code)] += 1

    run()
    return seen


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("user", "examples"), [("admin", 120), ("sup", 50)])
def test_no_server_error(operation, user, examples, mode):
    seen = fuzz(operation, user, mode, examples)
    assert sum(n for (_, status), n in seen.items() if status >= 500) == 0
    if mode == GenerationMode.POSITIVE:  # the generated requests reached the entities
        reached = {kind for (kind, status) in seen if status == 200}
        assert len(reached) >= 3 and "reports" in reached, seen
