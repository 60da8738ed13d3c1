"""Property-based fuzzing of the JSON API against its own OpenAPI document (schemathesis, WSGI,
no network): for every operation, valid and invalid generated requests, signed in as an SME
and as a large firm. No answer may be a 5xx, use an undocumented status code or content type,
or break the documented response schema. Examples per operation are bounded, so this runs in
well under a minute."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.web.trust_world import world  # noqa: F401  (fixture)
from web import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 8


@pytest.mark.parametrize("who", ["sme", "large"])
def test_api_answers_match_its_openapi_document(loaded, world, who):  # noqa: F811
    app = create_app(loaded, {"TESTING": True, "MATCH_USE_DENSE": False})
    app.config["PROPAGATE_EXCEPTIONS"] = False
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {world.tokens[who]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 13
    failures = []
    for operation in operations:
        if operation.method.upper() == "DELETE":
            continue  # revoking the caller's own token would end the run; covered in test_trust_leaks
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case) -> None:  # noqa: ANN001
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Exception as exc:  # noqa: BLE001 - collect every operation's failures, then fail once
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
