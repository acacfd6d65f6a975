"""The demo: the five agreements signed at Morocco's 3rd National Industry Day, loaded through the service."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from app import commands as c
from app.service import CommitmentService, WriteResult

DEMO_FILE = "industry_day_2025.json"


def demo_document() -> dict[str, Any]:
    """The demo data file shipped inside the package (a user's clone has no ../shared)."""
    text = resources.files("app.data").joinpath(DEMO_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def load_demo(service: CommitmentService) -> list[WriteResult]:
    """Record every demo fact. Each has a fixed command id, so a second run writes nothing."""
    document = demo_document()
    actor = str(document["actor"])
    results: list[WriteResult] = []
    for agreement in document["agreements"]:
        ref = agreement["sign"]["ref"]
        sign = c.SignAgreement.model_validate({**agreement["sign"], "command_id": f"demo:{ref}:0"})
        results.append(service.sign(sign, actor=actor))
        for index, step in enumerate(agreement["events"], start=1):
            body = {**step["body"], "command_id": f"demo:{ref}:{index}"}
            results.append(_demo_step(service, ref, step, body, actor))
    return results


def _demo_step(service: CommitmentService, ref: str, step: dict[str, Any], body: dict[str, Any],
               actor: str) -> WriteResult:
    on_agreement: dict[str, tuple[type[c.CommandMeta], Callable[..., WriteResult]]] = {
        "extend": (c.ExtendAgreement, service.extend),
        "add_beneficiaries": (c.AddBeneficiaries, service.add_beneficiaries),
        "allocate_funding": (c.AllocateFunding, service.allocate_funding),
        "disburse": (c.DisburseFunding, service.disburse),
        "plan_milestone": (c.PlanMilestone, service.plan_milestone),
    }
    on_milestone: dict[str, tuple[type[c.CommandMeta], Callable[..., WriteResult]]] = {
        "report_progress": (c.ReportProgress, service.report_progress),
        "complete_milestone": (c.CompleteMilestone, service.complete_milestone),
    }
    name = step["command"]
    if name in on_agreement:
        model, method = on_agreement[name]
        return method(ref, model.model_validate(body), actor=actor)
    model, method = on_milestone[name]
    return method(ref, step["milestone_id"], model.model_validate(body), actor=actor)
