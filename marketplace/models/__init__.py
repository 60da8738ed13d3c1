"""The domain model, one module per area; importing this package registers every table.

SQLAlchemy 2.0 typed models. The schema changes only through Alembic migrations in
``marketplace/migrations``. Status workflows live next to the data they guard, so every caller
(CLI, web, importers) goes through the same rules. Import names from here
(``from marketplace.models import Firm``) or from the area's module.
"""

from marketplace.models.accounts import Organization, OrganizationKind, Role, User
from marketplace.models.base import Base, LabelledEnum, TimestampMixin, utcnow
from marketplace.models.chain import (
    Industry,
    IndustryUpstream,
    Patent,
    Product,
    ProductIndustry,
    ProductRelation,
    ProductRelationKind,
)
from marketplace.models.consortia import (
    MEMBER_TRANSITIONS,
    ConsortiumMember,
    MemberStatus,
    ProcurementProject,
    ProjectLot,
    ProjectStatus,
)
from marketplace.models.demands import (
    DEMAND_TRANSITIONS,
    SUGGESTION_TRANSITIONS,
    Demand,
    DemandStatus,
    DemandType,
    MatchSuggestion,
    OwnerAction,
    SuggestionStatus,
    Visibility,
)
from marketplace.models.firms import (
    Firm,
    FirmIndustry,
    FirmKind,
    FirmName,
    FirmPatent,
    FirmProduct,
    FirmRelation,
    FirmRelationKind,
    NameKind,
    Tier,
)
from marketplace.models.notifications import Notification, OutboxEmail
from marketplace.models.policies import Policy, PolicyReach, PolicyStatus
from marketplace.models.tiers import TierFigures

__all__ = [
    "TierFigures",
    "PolicyStatus",
    "PolicyReach",
    "Policy",
    "ProjectStatus",
    "ProjectLot",
    "ProcurementProject",
    "MemberStatus",
    "ConsortiumMember",
    "MEMBER_TRANSITIONS",
    "DEMAND_TRANSITIONS",
    "SUGGESTION_TRANSITIONS",
    "Base",
    "Demand",
    "DemandStatus",
    "DemandType",
    "Firm",
    "FirmIndustry",
    "FirmKind",
    "FirmName",
    "FirmPatent",
    "FirmProduct",
    "FirmRelation",
    "FirmRelationKind",
    "Industry",
    "IndustryUpstream",
    "LabelledEnum",
    "MatchSuggestion",
    "NameKind",
    "Notification",
    "Organization",
    "OrganizationKind",
    "OutboxEmail",
    "OwnerAction",
    "Patent",
    "Product",
    "ProductIndustry",
    "ProductRelation",
    "ProductRelationKind",
    "Role",
    "SuggestionStatus",
    "Tier",
    "TimestampMixin",
    "User",
    "Visibility",
    "utcnow",
]
