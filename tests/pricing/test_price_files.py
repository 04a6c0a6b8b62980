"""Override files: layering over the database, and readable errors for broken files."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from otel_openai_billing.pricing import PriceFileError, PriceQuery, Pricer, load_price_file
from otel_openai_billing.usage import Usage

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CALL = Usage(input_tokens=1200, cache_read_tokens=800, output_tokens=350)


def write(tmp_path: Path, text: str, name: str = "prices.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def override(tmp_path: Path, doc: dict) -> Pricer:
    pricer = Pricer([write(tmp_path, json.dumps(doc))])
    assert pricer.errors == []
    return pricer


def test_negotiated_rate_overrides_one_rate(tmp_path: Path) -> None:
    pricer = override(
        tmp_path,
        {
            "schema": 1,
            "models": [
                {"match": {"prefix": "gpt-4o-2024-08-06"}, "prices": [{"per_1m_tokens": {"input": "2.00"}}]}
            ],
        },
    )
    cost = pricer.price(CALL, PriceQuery("gpt-4o-2024-08-06", timestamp=NOW))
    # 400 x 2.00 (override) + 800 x 1.25 + 350 x 10 (database), per 1M = 0.0008 + 0.001 + 0.0035 = 0.0053
    assert cost.amount == Decimal("0.0053")
    assert cost.layer == "override"


def test_discount_adjustment(tmp_path: Path) -> None:
    pricer = override(
        tmp_path,
        {
            "schema": 1,
            "adjustments": [{"match": {"regex": "^gpt-4o"}, "multiplier": "0.85", "note": "EA discount"}],
        },
    )
    cost = pricer.price(CALL, PriceQuery("gpt-4o-2024-08-06", timestamp=NOW))
    assert cost.amount == Decimal("0.004675")  # 0.0055 x 0.85
    assert cost.layer == "override" and "EA discount" in cost.reason
    other = pricer.price(Usage(input_tokens=1000), PriceQuery("gpt-4.1", timestamp=NOW))
    assert other.amount == Decimal("0.002")  # 1000 x 2 / 1M, no discount


def test_azure_only_entry_and_deployment_alias(tmp_path: Path) -> None:
    pricer = override(
        tmp_path,
        {
            "schema": 1,
            "aliases": {"prod-chat": "gpt-4o-mini-2024-07-18"},
            "models": [
                {
                    "match": {"exact": "gpt-4o-2024-08-06"},
                    "provider": "azure",
                    "prices": [
                        {"per_1m_tokens": {"input": "2.75", "cached_input": "1.375", "output": "11.00"}}
                    ],
                }
            ],
        },
    )
    azure = pricer.price(CALL, PriceQuery("gpt-4o-2024-08-06", provider="azure", timestamp=NOW))
    # 400 x 2.75 + 800 x 1.375 + 350 x 11, per 1M = 0.0011 + 0.0011 + 0.00385 = 0.00605
    assert azure.amount == Decimal("0.00605")
    openai = pricer.price(CALL, PriceQuery("gpt-4o-2024-08-06", timestamp=NOW))
    assert openai.amount == Decimal("0.0055")
    # No model in the response: the deployment alias names it. 1000 x 0.15 / 1M = 0.00015
    aliased = pricer.price(
        Usage(input_tokens=1000), PriceQuery(None, request_model="prod-chat", timestamp=NOW)
    )
    assert aliased.amount == Decimal("0.00015")


def test_effective_dates(tmp_path: Path) -> None:
    pricer = override(
        tmp_path,
        {
            "schema": 1,
            "models": [
                {
                    "match": {"exact": ["gpt-4.1"]},
                    "prices": [
                        {
                            "effective_from": "2026-11-01",
                            "effective_to": "2026-12-01",
                            "per_1m_tokens": {"input": "1.00"},
                        }
                    ],
                }
            ],
        },
    )
    usage = Usage(input_tokens=1000)
    inside = pricer.price(usage, PriceQuery("gpt-4.1", timestamp=NOW))
    before = pricer.price(usage, PriceQuery("gpt-4.1", timestamp=datetime(2026, 10, 31, tzinfo=UTC)))
    after = pricer.price(usage, PriceQuery("gpt-4.1", timestamp=datetime(2026, 12, 1, tzinfo=UTC)))
    assert (inside.amount, before.amount, after.amount) == (
        Decimal("0.001"),
        Decimal("0.002"),
        Decimal("0.002"),
    )


def test_override_tier_multiplier_and_scale_zero(tmp_path: Path) -> None:
    pricer = override(
        tmp_path,
        {
            "schema": 1,
            "models": [{"match": {"regex": "."}, "prices": [{"tiers": {"scale": {"multiplier": "0"}}}]}],
        },
    )
    cost = pricer.price(CALL, PriceQuery("gpt-4o", service_tier="scale", timestamp=NOW))
    assert (cost.status, cost.amount, cost.tier) == ("priced", Decimal(0), "scale")


def test_new_model_only_in_override(tmp_path: Path) -> None:
    pricer = override(
        tmp_path,
        {
            "schema": 1,
            "models": [
                {
                    "match": {"exact": ["in-house-7b"]},
                    "prices": [{"per_1m_tokens": {"input": "0.10", "output": "0.20"}}],
                }
            ],
        },
    )
    cost = pricer.price(
        Usage(input_tokens=1000, output_tokens=1000), PriceQuery("in-house-7b", timestamp=NOW)
    )
    assert cost.amount == Decimal("0.0003")


X = '{"schema": 1, "models": [{"match": {"exact": ["x"]}, "prices": [%s]}]}'

BROKEN = [
    # (file text, expected fragments of the message)
    ('{"schema": 1,\n  "models": [\n    {"match": }\n  ]\n}', ["line 3:", "invalid JSON"]),
    (
        X % '{"per_1m_tokens": {"input": 2.5}}',
        ["/models/0/prices/0/per_1m_tokens/input", "must be a string", '"2.5"'],
    ),
    (
        '{"schema": 1, "models": [{"match": {"exact": ["x"]}, "prices": [{"per_1m_tokens": {"input": 3}}]}]}',
        ["/models/0/prices/0/per_1m_tokens/input", "must be a string"],
    ),
    (
        X % '{"per_1m_token": {"input": "1"}}',
        ["/models/0/prices/0/per_1m_token", "unknown key"],
    ),
    (
        X % '{"effective_from": "2026-13-01"}',
        ["/models/0/prices/0/effective_from", "invalid date"],
    ),
    (
        '{"schema": 1, "models": [{"match": {"exact": ["x"]}, "prices": [{"effective_from": "1/2/2026"}]}]}',
        ["/models/0/prices/0/effective_from", "YYYY-MM-DD"],
    ),
    ('{"schema": 1, "models": [{"match": {"regex": "("}, "prices": []}]}', ["/models/0/match/regex"]),
    ('{"schema": 1, "adjustments": [{"multiplier": "abc"}]}', ["/adjustments/0/multiplier", "not a decimal"]),
    ('{"schema": 1, "schema": 1}', ["duplicate key 'schema'"]),
    ('{"models": []}', ["missing required key 'schema'"]),
    (
        '{"schema": 1, "models": [{"match": {"exact": ["x"]}, "prices": [{"tiers": {"turbo": {}}}]}]}',
        ["/models/0/prices/0/tiers/turbo", "unknown key"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BROKEN)
def test_broken_file_error_names_file_and_place(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = write(tmp_path, text, "negotiated.json")
    with pytest.raises(PriceFileError) as info:
        load_price_file(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PriceFileError, match="cannot read"):
        load_price_file(tmp_path / "nope.json")


def test_broken_override_is_collected_and_every_cost_says_so(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        '{"schema": 1, "models": [{"match": {"exact": ["gpt-4o"]}, '
        '"prices": [{"per_1m_tokens": {"input": 1.0}}]}]}',
        "negotiated.json",
    )
    pricer = Pricer([bad])  # does not raise
    assert len(pricer.errors) == 1 and "negotiated.json" in str(pricer.errors[0])
    cost = pricer.price(CALL, PriceQuery("gpt-4o-2024-08-06", timestamp=NOW))
    assert cost.amount == Decimal("0.0055")  # the file's prices are not used
    assert "not applied" in cost.reason and "negotiated.json" in cost.reason
    unknown = pricer.price(CALL, PriceQuery("mystery", timestamp=NOW))
    assert unknown.status == "unpriced" and "negotiated.json" in unknown.reason


def test_supplement_is_valid_package_data() -> None:
    from importlib import resources

    text = resources.files("otel_openai_billing.pricing").joinpath("supplement.json").read_text()
    assert json.loads(text)["schema"] == 1
    assert Pricer().errors == []
