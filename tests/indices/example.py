"""Load the worked example (``spec/example``) into ContractRows with the csv module only.

The CSV is messy on purpose: organisation codes in lower case, full width or padded with
(full-width) spaces; ``registered_at`` a date or a date-time, naive (Asia/Shanghai) or with an
offset (converted to Shanghai to find the month); cancelled contracts count nowhere.
"""

from __future__ import annotations

import csv
import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from indices import ContractRow, normalise_code, period_of

EXAMPLE_DIR = Path(os.environ.get(
    "MARKETPLACE_SPEC_EXAMPLE",
    Path(__file__).resolve().parents[3] / "shared" / "spec" / "example",
))


def _instant(text: str) -> date | datetime:
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def load_rows(directory: Path = EXAMPLE_DIR) -> list[ContractRow]:
    """The counted contracts of the example (registered, not cancelled)."""
    organisations: dict[str, dict[str, str]] = {}
    with (directory / "organisations.csv").open(encoding="utf-8", newline="") as fh:
        for record in csv.DictReader(fh):
            organisations[normalise_code(record["uscc"])] = record
    rows = []
    with (directory / "contracts.csv").open(encoding="utf-8", newline="") as fh:
        for record in csv.DictReader(fh):
            if record["status"].strip() == "cancelled":
                continue
            seller = organisations[normalise_code(record["seller_uscc"])]
            buyer = organisations[normalise_code(record["buyer_uscc"])]
            intermediary = normalise_code(record["intermediary_uscc"] or "") or None
            rows.append(ContractRow(
                contract_no=record["contract_no"].strip(),
                period=period_of(_instant(record["registered_at"])),
                seller_id=normalise_code(seller["uscc"]),
                buyer_id=normalise_code(buyer["uscc"]),
                intermediary_id=intermediary,
                seller_region=seller["region_code"].strip(),
                buyer_region=buyer["region_code"].strip(),
                seller_kind=seller["kind"].strip(),
                buyer_kind=buyer["kind"].strip(),
                field=record["field"].strip(),
                technical_amount=Decimal(record["technical_amount"]),
                total_amount=Decimal(record["total_amount"]),
            ))
    return rows


def load_expected(directory: Path = EXAMPLE_DIR) -> dict[str, Any]:
    with (directory / "expected_indices.json").open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data
