"""Procurement consortia (联合体) and subcontracting: a large firm posts a project with lots, the
platform proposes line-ups of members that together cover every lot, the owner invites them, the
members answer, and the agreed shares are recorded.

Candidates for each lot come from the matching engine (reasons and chain path included). The
line-up is an exact weighted set-cover solved with OR-Tools CP-SAT: every lot gets one lead
member; the SME-held budget must reach the reserved share; better matches, higher tiers and fewer
members score higher. Further line-ups come from re-solving with the earlier ones excluded.

Only an independent SME counts toward the reserved share (:func:`large_groups_of`): a firm
recorded as an SME that a large group controls, or that carries a group's name (华为数字能源技术
有限公司 beside 华为, which controls other firms in the data), is not one — as the government
procurement rules for SMEs exclude firms with a direct controlling relation to a large enterprise.

When every lot is agreed, :func:`finalize` marks the project agreed and calls each function in
:data:`AGREEMENT_HOOKS` with the agreement, the place where contract signing plugs in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, object_session, selectinload

from marketplace.accounts.permissions import acting_user_ids
from marketplace.errors import InputError, NotFoundError, TransitionError, msg
from marketplace.matching.reasons import render_all
from marketplace.models import (
    ConsortiumMember,
    Firm,
    FirmKind,
    FirmRelation,
    FirmRelationKind,
    MemberStatus,
    Organization,
    ProcurementProject,
    ProjectLot,
    ProjectStatus,
    Role,
    User,
    utcnow,
)
from marketplace.regions import CITY_PROVINCE, PROVINCES, normalize_region, parse_region

CANDIDATES_PER_LOT = 8
SCORE_SCALE = 1000
TIER_BONUS = 60  # per tier rank, on the same scale as a match score of 1.0 = 1000
MEMBER_PENALTY = 150  # each extra member costs this much
SME_BONUS = 40
SOLVER_SECONDS = 2.0
SME_DEPTH = 8  # the first ranking is this many times deeper than the candidates kept, to find SMEs in it
SOLVER_WORKERS = 1
MAX_LOT_BUDGET = 1e8  # 万元: a trillion yuan
# a controlling relation in the data (ICKG's 母公司/控股 and 并购; its direction is not reliable, so
# either end) ties a firm to a group
GROUP_RELATIONS = (FirmRelationKind.CONTROLS, FirmRelationKind.ACQUIRES)
MIN_GROUP_NAME = 2  # a group's name a firm's registered name starts with: at least this many characters
_PLACES = sorted((*PROVINCES, *CITY_PROVINCE), key=len, reverse=True)
_PLACE_SUFFIXES = ("特别行政区", "自治区", "省", "市")


# --- SMEs for the reserved share -----------------------------------------------------------------


def _without_place(name: str) -> str:
    """A registered name without the place it starts with ("深圳市华为…" → "华为…")."""
    for place in _PLACES:
        if name.startswith(place):
            rest = name[len(place) :]
            for suffix in _PLACE_SUFFIXES:
                if rest.startswith(suffix):
                    return rest[len(suffix) :]
            return rest
    return name


def large_groups_of(session: Session, firms: list[Firm]) -> dict[int, str]:
    """Which of ``firms`` recorded as SMEs are part of a large group, with the group's name: they do
    not count toward a reserved SME share. A firm is part of one when the data records a
    controlling relation (母公司/控股, 并购) between it and a firm that is not an SME, or when its
    registered name (after the place) starts with the name of a firm that is not an SME and heads
    a group — a listed large firm, or one with controlling relations of its own (华为 →
    华为数字能源技术有限公司)."""
    smes = {f.id: f for f in firms if f.kind is FirmKind.SME}
    if not smes:
        return {}
    out: dict[int, str] = {}
    relations = session.execute(
        select(FirmRelation.firm_id, FirmRelation.other_id).where(
            FirmRelation.relation.in_(GROUP_RELATIONS),
            or_(FirmRelation.firm_id.in_(smes), FirmRelation.other_id.in_(smes)),
        )
    ).all()
    linked = {other for pair in relations for other in pair} - set(smes)
    others = {f.id: f for f in session.scalars(select(Firm).where(Firm.id.in_(linked)))} if linked else {}
    for a, b in relations:
        for mine, theirs in ((a, b), (b, a)):
            other = others.get(theirs)
            if mine in smes and mine not in out and other is not None and other.kind is not FirmKind.SME:
                out[mine] = other.display_name
    prefixes: dict[int, list[str]] = {}
    for fid, firm in smes.items():
        if fid not in out:
            bare = _without_place(firm.name)
            prefixes[fid] = [bare[:n] for n in range(MIN_GROUP_NAME, len(bare))]
    wanted = {p for ps in prefixes.values() for p in ps}
    if not wanted:
        return out
    named = list(
        session.scalars(
            select(Firm).where(Firm.kind != FirmKind.SME, or_(Firm.name.in_(wanted), Firm.short_name.in_(wanted)))
        )
    )
    heads = {
        fid
        for pair in session.execute(
            select(FirmRelation.firm_id, FirmRelation.other_id).where(
                FirmRelation.relation.in_(GROUP_RELATIONS),
                or_(FirmRelation.firm_id.in_([f.id for f in named]), FirmRelation.other_id.in_([f.id for f in named])),
            )
        )
        for fid in pair
    }
    groups = [g for g in named if g.kind is FirmKind.LARGE or g.id in heads]
    for fid, ps in prefixes.items():
        starts = set(ps)
        found = [g for g in groups if g.id != fid and ({g.name, g.short_name} & starts)]
        if found:
            out[fid] = max(found, key=lambda g: len(g.short_name or g.name)).display_name
    return out


def counts_as_sme(session: Session, firm: Firm) -> bool:
    """Whether ``firm`` counts toward a reserved SME share (an SME that is not part of a large group)."""
    return firm.kind is FirmKind.SME and firm.id not in large_groups_of(session, [firm])


# Called as hook(session, project, agreement_dict, actor) when a consortium is agreed (actor: the
# owner's User who confirmed it, None from scripts); contract signing appends its function here to
# start the signing of the consortium agreement (e.g. one contract per accepted member).
def _start_contracts(session: Session, project: ProcurementProject, terms: dict[str, Any], actor: User | None) -> None:
    from marketplace.contracts.starting import start_from_consortium

    start_from_consortium(session, project, terms, actor)


AGREEMENT_HOOKS: list[Callable[[Session, ProcurementProject, dict[str, Any], User | None], None]] = [_start_contracts]


# --- projects ----------------------------------------------------------------------------------


def create_project(session: Session, owner_firm_id: int, data: dict[str, Any]) -> ProcurementProject:
    """A procurement project with its lots; every field is checked and named when wrong."""
    allowed = {"title", "description", "region", "sme_share", "deadline", "lots"}
    unknown = set(data) - allowed
    if unknown:
        name = sorted(unknown)[0]
        raise InputError(
            msg("%(name)s: unknown project field; known: %(known)s", name=name, known=", ".join(sorted(allowed))),
            field=name,
        )
    owner = session.get(Firm, owner_firm_id)
    if owner is None:
        raise NotFoundError(msg("owner: firm %(firm_id)s does not exist", firm_id=owner_firm_id), field="owner")
    title = (data.get("title") or "").strip()
    if len(title) < 2:
        raise InputError(msg("title: give the project a title"), field="title")
    share = data.get("sme_share", 0)
    try:
        share = float(share if share not in (None, "") else 0)
    except (TypeError, ValueError):
        raise InputError(msg("sme_share: a fraction between 0 and 1 (0.3 for 30 %%)"), field="sme_share") from None
    if not 0 <= share <= 1:
        raise InputError(msg("sme_share: a fraction between 0 and 1 (0.3 for 30 %%)"), field="sme_share")
    deadline = data.get("deadline")
    if deadline not in (None, "") and not isinstance(deadline, date):
        try:
            deadline = date.fromisoformat(str(deadline))
        except ValueError:
            raise InputError(msg("deadline: use YYYY-MM-DD"), field="deadline") from None
    if isinstance(deadline, date) and deadline < date.today():
        raise InputError(
            msg("deadline: %(deadline)s is in the past; give a future date", deadline=deadline.isoformat()),
            field="deadline",
        )
    region = (data.get("region") or "").strip() or None
    lots = data.get("lots") or []
    if not isinstance(lots, list) or not lots:
        raise InputError(msg("lots: a project needs at least one lot"), field="lots")
    project = ProcurementProject(
        owner_firm_id=owner.id,
        title=title,
        description=(data.get("description") or "").strip(),
        region=parse_region(region),
        sme_share=share,
        deadline=deadline or None,
    )
    for i, raw in enumerate(lots):
        project.lots.append(_lot(raw, i))
    session.add(project)
    session.flush()
    return project


def _lot(raw: Any, i: int) -> ProjectLot:
    if not isinstance(raw, dict):
        raise InputError(msg("lots[%(i)s]: each lot is an object with title, products, budget", i=i), field="lots")
    unknown = set(raw) - {"title", "products", "capabilities", "budget"}
    if unknown:
        raise InputError(msg("lots[%(i)s].%(name)s: unknown lot field", i=i, name=sorted(unknown)[0]), field="lots")
    title = (raw.get("title") or "").strip()
    if not title:
        raise InputError(msg("lots[%(i)s].title: each lot needs a title", i=i), field="lots")
    products = raw.get("products") or []
    if isinstance(products, str):
        products = [p.strip() for p in products.replace("，", ",").replace("、", ",").split(",")]
    products = [p.strip() for p in products if isinstance(p, str) and p.strip()]
    capabilities = (raw.get("capabilities") or "").strip()
    if not products and not capabilities:
        raise InputError(
            msg("lots[%(i)s].products: name the products or capabilities the lot needs", i=i), field="lots"
        )
    try:
        budget = float(raw.get("budget"))
    except (TypeError, ValueError):
        raise InputError(msg("lots[%(i)s].budget: the lot budget in 万元 (a number > 0)", i=i), field="lots") from None
    if not math.isfinite(budget) or not 0 < budget <= MAX_LOT_BUDGET:
        raise InputError(
            msg(
                "lots[%(i)s].budget: the lot budget in 万元, above 0 and at most %(max)s",
                i=i,
                max=f"{MAX_LOT_BUDGET:,.0f}",
            ),
            field="lots",
        )
    return ProjectLot(position=i + 1, title=title, products=products, capabilities=capabilities, budget=budget)


def get_project(session: Session, project_id: int) -> ProcurementProject:
    project = session.get(
        ProcurementProject,
        project_id,
        options=[selectinload(ProcurementProject.lots), selectinload(ProcurementProject.members)],
    )
    if project is None:
        raise NotFoundError(
            msg("project %(project_id)s does not exist; see `consortia list`", project_id=project_id),
            field="project_id",
        )
    return project


def list_projects(session: Session, *, user: Any = None) -> list[ProcurementProject]:
    """Projects the user may see (all for admins and the CLI)."""
    projects = list(session.scalars(select(ProcurementProject).order_by(ProcurementProject.id.desc())))
    if user is None:
        return projects
    return [p for p in projects if can_view_project(session, user, p)]


def lot_text(lot: ProjectLot) -> str:
    return "；".join(x for x in [lot.title, "、".join(lot.products), lot.capabilities] if x)


# --- proposals ---------------------------------------------------------------------------------


@dataclass
class Candidate:
    firm_id: int
    name: str
    score: float
    reasons: list[dict[str, Any]]  # structured, as the matching engine gives them (marketplace/matching/reasons.py)
    is_sme: bool
    tier: str | None
    tier_rank: int
    region: str | None
    group: str | None = None  # the large group a firm recorded as an SME belongs to (then is_sme is False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "firm_id": self.firm_id,
            "name": self.name,
            "score": round(self.score, 4),
            "reasons": render_all(self.reasons, "zh"),
            "reasons_en": render_all(self.reasons, "en"),
            "reason_data": self.reasons,
            "is_sme": self.is_sme,
            "tier": self.tier,
            "region": self.region,
            "group": self.group,
        }


def lot_candidates(
    engine: Any, project: ProcurementProject, per_lot: int = CANDIDATES_PER_LOT
) -> dict[int, list[Candidate]]:
    """Per lot: the best firms by the matching engine, plus the best SMEs (so the reserved share
    can be met even when large firms lead the ranking)."""
    from marketplace.matching.engine import Filters

    out: dict[int, list[Candidate]] = {}
    for lot in project.lots:
        text = lot_text(lot)
        found: dict[int, Candidate] = {}
        # one ranking, deep enough to hold SMEs too; a second, SME-only ranking when it holds few
        ranked = engine.match(text, "supply_chain", top_k=per_lot * SME_DEPTH, exclude=[project.owner_firm_id])
        smes = [r for r in ranked if engine.profiles[r.firm_id].kind is FirmKind.SME]
        if len(smes) < per_lot // 2:
            smes = engine.match(
                text, "supply_chain", top_k=per_lot, filters=Filters(kind=FirmKind.SME), exclude=[project.owner_firm_id]
            )
        for r in [*ranked[:per_lot], *smes[:per_lot]]:
            if r.firm_id in found:
                continue
            p = engine.profiles[r.firm_id]
            found[r.firm_id] = Candidate(
                r.firm_id,
                p.short_name or p.name,
                r.score,
                r.reasons,
                p.kind is FirmKind.SME,
                p.tier.value if p.tier else None,
                p.tier.rank if p.tier else 0,
                p.region,
            )
        out[lot.id] = sorted(found.values(), key=lambda c: (-c.score, c.firm_id))
    _mark_group_members(object_session(project), out)
    return out


def _mark_group_members(session: Session | None, candidates: dict[int, list[Candidate]]) -> None:
    """Candidates recorded as SMEs that belong to a large group do not count as SMEs here."""
    ids = {c.firm_id for cs in candidates.values() for c in cs if c.is_sme}
    if session is None or not ids:
        return
    groups = large_groups_of(session, list(session.scalars(select(Firm).where(Firm.id.in_(ids)))))
    for cs in candidates.values():
        for c in cs:
            if c.firm_id in groups:
                c.is_sme, c.group = False, groups[c.firm_id]


def solve_lineups(
    project: ProcurementProject, candidates: dict[int, list[Candidate]], *, count: int = 3
) -> dict[str, Any]:
    """Up to ``count`` best line-ups (each lot to one member) by CP-SAT, best first."""
    from ortools.sat.python import cp_model

    lots = list(project.lots)
    empty = [lot for lot in lots if not candidates.get(lot.id)]
    if empty:
        return {"status": "no_candidates", "lots_without_candidates": [lot.position for lot in empty], "lineups": []}
    total = sum(lot.budget for lot in lots)
    budget = {lot.id: round(lot.budget * 100) for lot in lots}  # in 0.01 万元, integers for CP-SAT
    model = cp_model.CpModel()
    x: dict[tuple[int, int], Any] = {}
    firms: dict[int, Candidate] = {}
    for lot in lots:
        for c in candidates[lot.id]:
            x[c.firm_id, lot.id] = model.new_bool_var(f"x_{c.firm_id}_{lot.id}")
            firms.setdefault(c.firm_id, c)
    used = {f: model.new_bool_var(f"y_{f}") for f in firms}
    for lot in lots:
        model.add_exactly_one(x[c.firm_id, lot.id] for c in candidates[lot.id])
    for (f, _lot), var in x.items():
        model.add_implication(var, used[f])
    reserved = round(project.sme_share * total * 100)
    if reserved > 0:
        model.add(sum(budget[lot_id] * var for (f, lot_id), var in x.items() if firms[f].is_sme) >= reserved)
    weight = {
        (c.firm_id, lot.id): round(c.score * SCORE_SCALE) + TIER_BONUS * c.tier_rank + (SME_BONUS if c.is_sme else 0)
        for lot in lots
        for c in candidates[lot.id]
    }
    model.maximize(sum(weight[k] * v for k, v in x.items()) - MEMBER_PENALTY * sum(used.values()))
    for lot in lots:  # hint: the best-weighted candidate of each lot
        top = max(candidates[lot.id], key=lambda c: weight[c.firm_id, lot.id])
        for c in candidates[lot.id]:
            model.add_hint(x[c.firm_id, lot.id], c is top)
    lineups = []
    status_name = "optimal"
    for _ in range(count):
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = SOLVER_SECONDS
        solver.parameters.num_workers = SOLVER_WORKERS
        status = solver.solve(model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if not lineups:
                status_name = "infeasible"
            break
        if status == cp_model.FEASIBLE and not lineups:
            status_name = "feasible"
        chosen = [k for k, v in x.items() if solver.value(v)]
        lineups.append(_lineup(project, lots, firms, chosen, total, int(solver.objective_value)))
        model.add(sum(x[k] for k in chosen) <= len(chosen) - 1)  # the next line-up differs somewhere
    result: dict[str, Any] = {"status": status_name, "lineups": lineups}
    if status_name == "infeasible":
        sme_budget = sum(lot.budget for lot in lots if any(c.is_sme for c in candidates[lot.id]))
        result["message"] = msg(
            "SME candidates were found for lots worth %(sme_budget)g 万元 of %(total)g; the reserved share "
            "%(share).0f%% needs %(needed)g 万元",
            sme_budget=sme_budget,
            total=total,
            share=project.sme_share * 100,
            needed=project.sme_share * total,
        )
    return result


def _lineup(
    project: ProcurementProject,
    lots: list[ProjectLot],
    firms: dict[int, Candidate],
    chosen: list[tuple[int, int]],
    total: float,
    objective: int,
) -> dict[str, Any]:
    by_lot = {lot_id: f for f, lot_id in chosen}
    sme_budget = sum(lot.budget for lot in lots if firms[by_lot[lot.id]].is_sme)
    members: dict[int, dict[str, Any]] = {}
    for lot in lots:
        c = firms[by_lot[lot.id]]
        m = members.setdefault(c.firm_id, {**c.as_dict(), "lots": [], "reasons": {}})
        m["lots"].append(lot.position)
    return {
        "assignments": [{"lot_id": lot.id, "position": lot.position, "firm_id": by_lot[lot.id]} for lot in lots],
        "members": list(members.values()),
        "member_count": len(members),
        "sme_share": round(sme_budget / total, 4) if total else 0.0,
        "sme_share_required": project.sme_share,
        "objective": objective,
    }


def propose(
    engine: Any, project: ProcurementProject, *, count: int = 3, per_lot: int = CANDIDATES_PER_LOT
) -> dict[str, Any]:
    """Consortium line-ups for the project, with each lot's candidates as alternatives."""
    candidates = lot_candidates(engine, project, per_lot)
    solved = solve_lineups(project, candidates, count=count)
    reasons = {(lot_id, c.firm_id): c.reasons for lot_id, cs in candidates.items() for c in cs}
    for lineup in solved["lineups"]:
        for a in lineup["assignments"]:
            data = reasons[a["lot_id"], a["firm_id"]]
            a["reasons"] = render_all(data, "zh")
            a["reasons_en"] = render_all(data, "en")
            a["reason_data"] = data
    best = {a["lot_id"]: a["firm_id"] for a in solved["lineups"][0]["assignments"]} if solved["lineups"] else {}
    solved["lots"] = [
        {
            "lot_id": lot.id,
            "position": lot.position,
            "title": lot.title,
            "budget": lot.budget,
            "products": lot.products,
            "chosen": best.get(lot.id),
            "alternatives": [c.as_dict() for c in candidates[lot.id] if c.firm_id != best.get(lot.id)],
        }
        for lot in project.lots
    ]
    solved["project_id"] = project.id
    return solved


# --- invitations and answers -------------------------------------------------------------------


def invite(
    session: Session,
    project: ProcurementProject,
    lot_id: int,
    firm_id: int,
    *,
    share: float = 1.0,
    reasons: list[str] | None = None,
) -> ConsortiumMember:
    """Invite a firm to take ``share`` of a lot's budget; its users are notified."""
    if project.status is not ProjectStatus.OPEN:
        raise TransitionError(
            msg("status: the project is %(status)s; invitations are closed", status=project.status), field="status"
        )
    lot = next((lot for lot in project.lots if lot.id == lot_id), None)
    if lot is None:
        raise NotFoundError(
            msg("lot_id: lot %(lot_id)s is not part of project %(project_id)s", lot_id=lot_id, project_id=project.id),
            field="lot_id",
        )
    firm = session.get(Firm, firm_id)
    if firm is None:
        raise NotFoundError(msg("firm_id: firm %(firm_id)s does not exist", firm_id=firm_id), field="firm_id")
    if firm.id == project.owner_firm_id:
        raise InputError(msg("firm_id: the project owner leads the consortium; invite other firms"), field="firm_id")
    if not isinstance(share, int | float) or not 0 < share <= 1:
        raise InputError(msg("share: the member's share of the lot budget, above 0 and at most 1"), field="share")
    active = [
        m for m in project.members if m.lot_id == lot.id and m.status in (MemberStatus.INVITED, MemberStatus.ACCEPTED)
    ]
    if any(m.firm_id == firm.id for m in active):
        raise InputError(
            msg("firm_id: %(firm)s is already invited to lot %(lot)s", firm=firm.name, lot=lot.position),
            field="firm_id",
        )
    if sum(m.share for m in active) + share > 1 + 1e-9:
        left = max(0.0, 1 - sum(m.share for m in active))
        raise InputError(
            msg(
                "share: lot %(lot)s has only %(left).0f%% of its budget left to give", lot=lot.position, left=left * 100
            ),
            field="share",
        )
    old = next((m for m in project.members if m.lot_id == lot.id and m.firm_id == firm.id), None)
    if old is not None:  # declined or withdrawn before: invite again
        project.members.remove(old)
        session.flush()
    member = ConsortiumMember(
        project_id=project.id,
        lot_id=lot.id,
        firm_id=firm.id,
        share=float(share),
        is_sme=counts_as_sme(session, firm),
        reasons=list(reasons or []),
        status=MemberStatus.INVITED,
        invited_at=utcnow(),
    )
    project.members.append(member)
    session.flush()
    users = acting_user_ids(session, [firm.id])
    if users:
        from marketplace.accounts.notifications import notify

        notify(
            session,
            user_ids=users,
            kind="consortium",
            title_zh=f"联合体邀请：{project.title}（第{lot.position}包 {lot.title}）",
            title_en=f"Consortium invitation: {project.title} (lot {lot.position}, {lot.title})",
            body_zh=f"{project.owner.name} 邀请贵企业承担该包预算的 {share:.0%}。",
            body_en=f"{project.owner.name} invites your firm to take {share:.0%} of the lot budget.",
            link=f"/consortia/{project.id}",
        )
    return member


def get_member(session: Session, member_id: int) -> ConsortiumMember:
    member = session.get(ConsortiumMember, member_id)
    if member is None:
        raise NotFoundError(msg("invitation %(member_id)s does not exist", member_id=member_id), field="member_id")
    return member


def respond(session: Session, member: ConsortiumMember, accept: bool) -> ConsortiumMember:
    if member.project.status is not ProjectStatus.OPEN:
        raise TransitionError(msg("status: the project is no longer forming its consortium"), field="status")
    member.set_status(MemberStatus.ACCEPTED if accept else MemberStatus.DECLINED)
    member.responded_at = utcnow()
    session.flush()
    return member


def withdraw(session: Session, member: ConsortiumMember) -> ConsortiumMember:
    """The owner takes an invitation back (before or after it was accepted) while the consortium forms."""
    if member.project.status is not ProjectStatus.OPEN:
        raise TransitionError(msg("status: the project is no longer forming its consortium"), field="status")
    member.set_status(MemberStatus.WITHDRAWN)
    member.responded_at = utcnow()
    session.flush()
    return member


def agreement(project: ProcurementProject) -> dict[str, Any]:
    """The agreed consortium: accepted members per lot with their shares and budgets, and the
    SME share achieved (of the total budget)."""
    total = project.budget
    lots = []
    sme_budget = 0.0
    for lot in project.lots:
        accepted = [m for m in project.members if m.lot_id == lot.id and m.status is MemberStatus.ACCEPTED]
        sme_budget += sum(lot.budget * m.share for m in accepted if m.is_sme)
        lots.append(
            {
                "lot_id": lot.id,
                "position": lot.position,
                "title": lot.title,
                "budget": lot.budget,
                "covered": round(sum(m.share for m in accepted), 6),
                "members": [
                    {
                        "firm_id": m.firm_id,
                        "firm": m.firm.name,
                        "share": m.share,
                        "budget": round(lot.budget * m.share, 2),
                        "is_sme": m.is_sme,
                    }
                    for m in accepted
                ],
            }
        )
    return {
        "project_id": project.id,
        "title": project.title,
        "owner_firm_id": project.owner_firm_id,
        "owner": project.owner.name,
        "total_budget": total,
        "sme_budget": round(sme_budget, 2),
        "sme_share": round(sme_budget / total, 4) if total else 0.0,
        "sme_share_required": project.sme_share,
        "lots": lots,
        "complete": all(abs(lot["covered"] - 1) < 1e-6 for lot in lots),
    }


def finalize(session: Session, project: ProcurementProject, actor: User | None = None) -> dict[str, Any]:
    """Close the consortium when every lot's budget is fully taken by accepted members and the
    reserved SME share is met; then hand the agreement to contract signing (AGREEMENT_HOOKS)."""
    if project.status is not ProjectStatus.OPEN:
        raise TransitionError(msg("status: the project is already %(status)s", status=project.status), field="status")
    terms = agreement(project)
    short = [lot["position"] for lot in terms["lots"] if abs(lot["covered"] - 1) > 1e-6]
    if short:
        raise InputError(
            msg("lots: lots %(lots)s are not fully taken by accepted members yet", lots=short), field="lots"
        )
    if terms["sme_share"] + 1e-9 < project.sme_share:
        raise InputError(
            msg(
                "sme_share: SMEs hold %(held).0f%% of the budget; %(reserved).0f%% is reserved",
                held=terms["sme_share"] * 100,
                reserved=project.sme_share * 100,
            ),
            field="sme_share",
        )
    project.status = ProjectStatus.AGREED
    session.flush()
    for hook in AGREEMENT_HOOKS:
        hook(session, project, terms, actor)
    return terms


def project_dict(project: ProcurementProject) -> dict[str, Any]:
    return {
        "project_id": project.id,
        "owner_firm_id": project.owner_firm_id,
        "owner": project.owner.name,
        "title": project.title,
        "description": project.description,
        "region": project.region,
        "sme_share": project.sme_share,
        "deadline": project.deadline.isoformat() if project.deadline else None,
        "status": project.status.value,
        "budget": project.budget,
        "lots": [
            {
                "lot_id": lot.id,
                "position": lot.position,
                "title": lot.title,
                "products": lot.products,
                "capabilities": lot.capabilities,
                "budget": lot.budget,
            }
            for lot in project.lots
        ],
        "members": [member_dict(m) for m in project.members],
    }


def member_dict(m: ConsortiumMember) -> dict[str, Any]:
    return {
        "member_id": m.id,
        "project_id": m.project_id,
        "lot_id": m.lot_id,
        "lot_position": m.lot.position,
        "firm_id": m.firm_id,
        "firm": m.firm.name,
        "share": m.share,
        "is_sme": m.is_sme,
        "status": m.status.value,
        "reasons": m.reasons,
        "invited_at": m.invited_at.isoformat(timespec="seconds"),
        "responded_at": m.responded_at.isoformat(timespec="seconds") if m.responded_at else None,
    }


def invitations_for(session: Session, firm_id: int) -> list[ConsortiumMember]:
    return list(
        session.scalars(
            select(ConsortiumMember).where(ConsortiumMember.firm_id == firm_id).order_by(ConsortiumMember.id.desc())
        )
    )


def sme_share_report(session: Session, *, region: str | None = None) -> dict[str, Any]:
    """For organizers: SME share reserved and achieved (accepted members) per project, and overall."""
    query = select(ProcurementProject).order_by(ProcurementProject.id)
    if region:
        query = query.where(ProcurementProject.region == normalize_region(region))
    rows = []
    total = sme = 0.0
    for project in session.scalars(query):
        terms = agreement(project)
        total += terms["total_budget"]
        sme += terms["sme_budget"]
        rows.append(
            {
                "project_id": project.id,
                "title": project.title,
                "owner": project.owner.name,
                "region": project.region,
                "status": project.status,  # a ProjectStatus: its value in JSON, |lbl on pages
                "total_budget": terms["total_budget"],
                "sme_budget": terms["sme_budget"],
                "sme_share": terms["sme_share"],
                "sme_share_required": project.sme_share,
                "met": terms["sme_share"] + 1e-9 >= project.sme_share,
            }
        )
    return {
        "projects": rows,
        "total_budget": round(total, 2),
        "sme_budget": round(sme, 2),
        "sme_share": round(sme / total, 4) if total else 0.0,
    }


# --- permission --------------------------------------------------------------------------------


# A firm sees a project while an invitation of its is open or accepted (on any lot); one that
# declined, or whose invitation the owner withdrew, loses access, as a firm whose event
# registration was withdrawn or rejected does: the owner's plans are no business of a firm out of it.
SEES_PROJECT = (MemberStatus.INVITED, MemberStatus.ACCEPTED)


def can_view_project(session: Session, user: Any, project: ProcurementProject) -> bool:
    """The owner's users, firms with an open or accepted invitation (see :data:`SEES_PROJECT`),
    organizers of its region, admins. The one rule for pages and API alike."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    if user.role is Role.ADMIN:
        return True
    if user.firm_id is not None:
        return user.firm_id == project.owner_firm_id or any(
            m.firm_id == user.firm_id and m.status in SEES_PROJECT for m in project.members
        )
    if user.role is Role.ORGANIZER and user.organization_id is not None and project.region:
        org = session.get(Organization, user.organization_id)
        return org is not None and org.region == project.region
    return False


def can_manage_project(user: Any, project: ProcurementProject | None = None) -> bool:
    """Posting (project None) needs a large-firm user; changing a project needs its owner's user."""
    if user is None or not getattr(user, "is_authenticated", True):
        return False
    if user.role is Role.ADMIN:
        return True
    if user.role is not Role.LARGE or user.firm_id is None:
        return False
    return project is None or project.owner_firm_id == user.firm_id


def can_answer(user: Any, member: ConsortiumMember) -> bool:
    """Only the invited firm's users answer an invitation."""
    return user is not None and getattr(user, "firm_id", None) is not None and user.firm_id == member.firm_id
