"""Cloud contract signing (云签约).

Building blocks that know nothing of the database: the platform PKI (:mod:`.pki`, its keys
:mod:`.keys`) and TSA (:mod:`.tsa`), contract templates (:mod:`.templates`), PDF rendering with an
embedded CJK font (:mod:`.render`), PAdES signing and offline verification with pyHanko
(:mod:`.pades`).

The services on top, one job each: :mod:`.access` (the one permission rule and visibility),
:mod:`.audit` (the hash-chained audit log), :mod:`.starting` (how a contract starts),
:mod:`.workflow` (negotiation, designation, approval, the state machine), :mod:`.signing` (keys of
signers, signing, verification, certificate and export); the CLI is :mod:`.cli`, demo data
:mod:`.demo`.
"""
