"""Cloud contract signing (云签约) building blocks: the platform PKI and TSA, contract templates,
PDF rendering with an embedded CJK font, PAdES signing and offline verification with pyHanko.

The workflow (rounds, approvals, audit chain, permissions) lives in
:mod:`marketplace.contracts.workflow`; these modules know nothing of the database.
"""
