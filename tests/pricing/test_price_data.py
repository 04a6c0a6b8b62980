"""`prices update` / `prices status` against a local server serving a newer genai-prices data file.

The file (tests/pricing/data/genai-prices-newer.json) is in the format genai-prices' own updater
fetches (a list of providers) and adds a model the bundled data lacks, `gpt-9-fixture`: $3 in / $12 out
per 1M until 2026-06-01, $2 / $8 from then on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from werkzeug.wrappers import Request, Response

from otel_openai_billing.pricing import PriceQuery, Pricer, datacache
from otel_openai_billing.usage import Usage
from tests.fakes import BackgroundServer
from tests.fakes.openai_server import FakeOpenAI

SRC = str(Path(__file__).resolve().parents[2] / "src")
NEWER = (Path(__file__).parent / "data" / "genai-prices-newer.json").read_bytes()


class PriceServer(BackgroundServer):
    """Serves /data.json; a test sets what it answers."""

    def __init__(self) -> None:
        super().__init__()
        self.status = 200
        self.body = NEWER

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path != "/data.json":
            return Response("not found", status=404)(environ, start_response)
        return Response(self.body, status=self.status, mimetype="application/json")(environ, start_response)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/data.json"


@pytest.fixture(scope="module")
def prices_server() -> Iterator[PriceServer]:
    with PriceServer() as srv:
        yield srv


@pytest.fixture
def served(prices_server: PriceServer) -> PriceServer:
    prices_server.status, prices_server.body = 200, NEWER
    return prices_server


def cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The CLI finds the cache through the instrumentation's own variable, as an app would.
    env = {
        **os.environ,
        "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OTEL_OPENAI_BILLING_PRICE_CACHE": str(cache),
    }
    env.pop("OTEL_OPENAI_BILLING_PRICE_FILES", None)
    return subprocess.run(
        [sys.executable, "-m", "otel_openai_billing.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


FIXTURE_COST = ("cost", "gpt-9-fixture", "--input-tokens", "1000", "--output-tokens", "1000")


def test_update_then_price_a_model_the_package_lacks(tmp_path: Path, served: PriceServer) -> None:
    before = cli(tmp_path, *FIXTURE_COST, "--date", "2026-05-01")
    assert before.returncode == 1
    assert "status: unpriced" in before.stdout
    assert "prices update" in before.stdout  # what to do, with the data's age
    status = cli(tmp_path, "prices", "status")
    assert status.returncode == 1 and "no updated price data" in status.stdout

    update = cli(tmp_path, "prices", "update", "--url", served.url)
    assert update.returncode == 0, update.stderr
    assert "new OpenAI models: gpt-9-fixture" in update.stdout

    # Before 2026-06-01: 1,000 x $3/1M + 1,000 x $12/1M = 0.003 + 0.012.
    after = cli(tmp_path, *FIXTURE_COST, "--date", "2026-05-01", "--json")
    assert after.returncode == 0, after.stderr
    payload = json.loads(after.stdout)
    assert payload["amount_usd"] == "0.015"
    today = datetime.now(UTC).date().isoformat()
    assert payload["layer"] == f"genai-prices-data@{today}"
    # From 2026-06-01: 1,000 x $2/1M + 1,000 x $8/1M.
    later = json.loads(cli(tmp_path, *FIXTURE_COST, "--date", "2026-07-01", "--json").stdout)
    assert later["amount_usd"] == "0.01"

    status = cli(tmp_path, "prices", "status", "--json")
    assert status.returncode == 0, status.stdout
    data = json.loads(status.stdout)["price_data"]
    assert data["age_days"] == 0 and data["newest_dated_price"] == "2026-06-01"
    assert data["source"].startswith(f"genai-prices data from {served.url}")


@pytest.mark.parametrize(
    ("status_code", "body", "why"),
    [
        (500, b'{"error": "boom"}', "HTTP 500"),
        (200, b"<html>captive portal</html>", "not JSON"),
        (200, b'[{"id": "openai"}]', "not genai-prices data"),
        (200, b'[{"id": "acme", "name": "Acme", "api_pattern": "x", "models": []}]', "no OpenAI prices"),
    ],
)
def test_failed_update_keeps_the_last_good_data(
    tmp_path: Path, served: PriceServer, status_code: int, body: bytes, why: str
) -> None:
    good = datacache.update(tmp_path, served.url)
    served.status, served.body = status_code, body
    with pytest.raises(datacache.PriceDataError, match=why):
        datacache.update(tmp_path, served.url)
    kept = datacache.load(tmp_path)
    assert kept is not None and kept.fetched_at == good.fetched_at and kept.models == good.models
    failure = datacache.last_failure(tmp_path)
    assert failure is not None and why in failure["error"]
    # Still priced from the cached copy: 1,000 x $3/1M + 1,000 x $12/1M.
    cost = Pricer(price_cache=tmp_path).price(
        Usage(1_000, 1_000), PriceQuery("gpt-9-fixture", timestamp=datetime(2026, 5, 1, tzinfo=UTC))
    )
    assert cost.amount == Decimal("0.015")


def test_failed_update_is_said_by_the_cli(tmp_path: Path, served: PriceServer) -> None:
    assert cli(tmp_path, "prices", "update", "--url", served.url).returncode == 0
    served.status = 503
    failed = cli(tmp_path, "prices", "update", "--url", served.url)
    assert failed.returncode == 1
    assert "HTTP 503" in failed.stderr and "keeping the last good data" in failed.stderr
    status = cli(tmp_path, "prices", "status")
    assert status.returncode == 1
    assert "the last update failed" in status.stdout and "HTTP 503" in status.stdout
    # A good update clears the failure.
    served.status = 200
    assert cli(tmp_path, "prices", "update", "--url", served.url).returncode == 0
    assert datacache.last_failure(tmp_path) is None


def test_offline_update_keeps_the_last_good_data(tmp_path: Path, served: PriceServer) -> None:
    assert cli(tmp_path, "prices", "update", "--url", served.url).returncode == 0
    # Nothing listens on a port a just-stopped server held.
    with PriceServer() as gone:
        dead_url = gone.url
    failed = cli(tmp_path, "prices", "update", "--url", dead_url, "--timeout", "5")
    assert failed.returncode == 1 and "cannot fetch" in failed.stderr
    assert "keeping the last good data: genai-prices data from" in failed.stderr


def test_stale_data_is_reported(tmp_path: Path, served: PriceServer) -> None:
    assert cli(tmp_path, "prices", "update", "--url", served.url).returncode == 0
    meta_path = tmp_path / datacache.META_FILE
    meta = json.loads(meta_path.read_text())
    meta["fetched_at"] = (datetime.now(UTC) - timedelta(days=30)).isoformat(timespec="seconds")
    meta_path.write_text(json.dumps(meta))
    status = cli(tmp_path, "prices", "status")
    assert status.returncode == 1
    assert "price data is stale: fetched 30 days ago" in status.stdout


def test_unpriced_warning_says_what_to_do_and_how_old(
    tmp_path: Path, served: PriceServer, caplog: pytest.LogCaptureFixture
) -> None:
    datacache.update(tmp_path, served.url)
    pricer = Pricer(price_cache=tmp_path)
    with caplog.at_level("WARNING", logger="otel_openai_billing.pricing"):
        for _ in range(3):
            pricer.price(Usage(1, 1), PriceQuery("gpt-99-nobody"))
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # once per model
    assert "prices update" in warnings[0] and "OTEL_OPENAI_BILLING_PRICE_FILES" in warnings[0]
    assert "fetched" in warnings[0] and "(0 days ago)" in warnings[0]


def test_corrupt_cache_falls_back_to_bundled_data_and_says_so(tmp_path: Path) -> None:
    (tmp_path / datacache.DATA_FILE).write_text("{not json")
    pricer = Pricer(price_cache=tmp_path)
    assert pricer.data.layer.startswith("genai-prices@")
    assert len(pricer.warnings) == 1 and "not JSON" in pricer.warnings[0]
    # gpt-4o from the bundled data: 1,000 x $2.50/1M + 1,000 x $10/1M.
    assert pricer.price(Usage(1_000, 1_000), PriceQuery("gpt-4o")).amount == Decimal("0.0125")


def test_instrumentation_warns_once_about_stale_data(
    tmp_path: Path, served: PriceServer, caplog: pytest.LogCaptureFixture
) -> None:
    from otel_openai_billing import OpenAIBillingInstrumentor

    datacache.update(tmp_path, served.url)
    meta_path = tmp_path / datacache.META_FILE
    meta = json.loads(meta_path.read_text())
    meta["fetched_at"] = (datetime.now(UTC) - timedelta(days=20)).isoformat(timespec="seconds")
    meta_path.write_text(json.dumps(meta))
    instrumentor = OpenAIBillingInstrumentor()
    with FakeOpenAI() as server, openai.OpenAI(api_key="sk-test", base_url=server.base_url) as client:
        with caplog.at_level("WARNING", logger="otel_openai_billing"):
            instrumentor.instrument(price_cache=str(tmp_path))
            # The price data loads off the start-up path; the first call priced waits for it, so the
            # warning is in the log by the time it returns.
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
        instrumentor.uninstrument()
    stale = [r.getMessage() for r in caplog.records if "stale" in r.getMessage()]
    assert len(stale) == 1
    assert stale[0].endswith(
        "price data is stale: fetched 20 days ago; run 'otel-openai-billing prices update'"
    )
