"""`demo load` creates one signed demo contract and one in negotiation, once."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from marketplace.contracts import audit, signing
from marketplace.db import session_scope
from marketplace.models import Contract, ContractStatus


def test_demo_load_creates_a_signed_and_a_negotiating_contract_idempotently(loaded, runner):
    first = runner.invoke(["demo", "load", "--json"])
    assert first.exit_code == 0, first.output
    ids = json.loads(first.output.strip().splitlines()[-1])["demo_contracts"]
    again = runner.invoke(["demo", "load", "--json"])
    assert json.loads(again.output.strip().splitlines()[-1])["demo_contracts"] == ids
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count()).select_from(Contract)) == 2
        signed = s.get(Contract, ids["signed"])
        assert signed.status is ContractStatus.SIGNED and signed.template == "supply_chain"
        assert signing.verify_document(s, loaded, signed.signed_pdf).ok
        assert audit.verify_audit(s, signed.id).ok
        negotiating = s.get(Contract, ids["negotiating"])
        assert negotiating.status is ContractStatus.NEGOTIATING and len(negotiating.rounds) == 2
