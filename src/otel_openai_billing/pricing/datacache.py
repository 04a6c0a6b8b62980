"""Newer genai-prices data without a new release: fetch, validate, cache, load.

genai-prices publishes its whole database as one JSON file (a list of providers, the format its own
``UpdatePrices`` fetches) at ``DEFAULT_URL``. ``update()`` fetches it, validates it with genai-prices'
own parser, and only then replaces the cached copy (atomically), so a failed or offline update keeps
the last good data and says why. ``load()`` turns the cached copy into a genai-prices ``DataSnapshot``
that the pricer uses instead of the data bundled in the installed package.

Cache layout (one directory; ``default_dir()`` unless configured):
- ``genai-prices-data.json``: the payload, byte for byte as fetched;
- ``genai-prices-data.meta.json``: where and when it came from, its SHA-256, the last failed attempt.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import genai_prices
from genai_prices.data_snapshot import DataSnapshot, get_snapshot

# The URL genai-prices' own updater (genai_prices.update_prices.DEFAULT_UPDATE_URL) fetches.
DEFAULT_URL = (
    "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json"
)
DATA_FILE = "genai-prices-data.json"
META_FILE = "genai-prices-data.meta.json"
# Data older than this is called stale by ``prices status`` and in the unpriced-model warning.
STALE_AFTER_DAYS = 14
_MAX_BYTES = 64 * 1024 * 1024  # the file is ~1 MB; anything this large is not it


class PriceDataError(Exception):
    """The cached or fetched price data cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class PriceData:
    """The genai-prices data in force, and where it came from."""

    snapshot: DataSnapshot
    layer: str  # the price layer name spans carry: "genai-prices@0.2.3" or "genai-prices-data@<date>"
    source: str  # human-readable origin
    fetched_at: datetime | None  # None for the data bundled in the package
    newest_price_date: date | None  # the latest start date of any dated price (may be scheduled ahead)
    models: int

    def age_days(self, now: datetime | None = None) -> int | None:
        """Days since the data was fetched (None for bundled data, whose fetch date is unknown)."""
        if self.fetched_at is None:
            return None
        return ((now or datetime.now(UTC)) - self.fetched_at).days

    def describe(self) -> str:
        """One line: which data, from when."""
        if self.fetched_at is None:
            newest = self.newest_price_date.isoformat() if self.newest_price_date else "none"
            # A package's data carries no fetch date; the latest price change it knows of bounds its age.
            return f"{self.source} (as of its release; latest price change it carries: {newest})"
        when = self.fetched_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"{self.source}, fetched {when} ({self.age_days()} days ago)"


def default_dir() -> Path:
    """``$XDG_CACHE_HOME/otel-openai-billing``, else ``~/.cache/otel-openai-billing``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "otel-openai-billing"


def resolve_dir(setting: str | None) -> Path | None:
    """The cache directory for the ``price_cache`` option: unset -> ``default_dir()``, ``off`` -> None."""
    if setting is None or not setting.strip():
        return default_dir()
    if setting.strip().lower() in ("off", "false", "0", "none"):
        return None
    return Path(setting).expanduser()


@functools.cache
def bundled() -> PriceData:
    """The data shipped inside the installed genai-prices package."""
    snap = get_snapshot()
    return PriceData(
        snapshot=snap,
        layer=f"genai-prices@{genai_prices.__version__}",
        source=f"genai-prices {genai_prices.__version__} bundled data",
        fetched_at=None,
        newest_price_date=_newest_date(snap),
        models=_count_models(snap),
    )


def _count_models(snap: DataSnapshot) -> int:
    return sum(len(p.models) for p in snap.providers)


def _newest_date(snap: DataSnapshot) -> date | None:
    newest: date | None = None

    def see(constraint: Any) -> None:
        nonlocal newest
        start = getattr(constraint, "start_date", None)
        if isinstance(start, datetime):
            start = start.date()
        if isinstance(start, date) and (newest is None or start > newest):
            newest = start

    for provider in snap.providers:
        for model in provider.models:
            if isinstance(model.prices, list):
                for conditional in model.prices:
                    see(conditional.constraint)
            for variant in model.price_variants or ():
                see(variant.constraint)
    return newest


def parse(payload: bytes, origin: str) -> DataSnapshot:
    """Validate a genai-prices data file with genai-prices' own parser; raises ``PriceDataError``."""
    from genai_prices.types import _providers_from_raw  # the parser its updater uses

    try:
        raw = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PriceDataError(f"{origin}: not JSON ({exc})") from None
    if not isinstance(raw, list):
        raise PriceDataError(f"{origin}: expected a list of providers, got {type(raw).__name__}")
    try:
        providers = _providers_from_raw(raw)
    except Exception as exc:  # pydantic's ValidationError and whatever a newer format raises
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PriceDataError(f"{origin}: not genai-prices data ({first})") from None
    if not any(p.id == "openai" and p.models for p in providers):
        raise PriceDataError(f"{origin}: has no OpenAI prices; not replacing the current data")
    return DataSnapshot(providers=providers, from_auto_update=True)


def _read_meta(directory: Path) -> dict[str, Any]:
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(directory: str | Path) -> PriceData | None:
    """The cached data, or None if nothing was ever fetched; raises ``PriceDataError`` if unusable."""
    directory = Path(directory)
    path = directory / DATA_FILE
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PriceDataError(f"{path}: cannot read ({exc})") from None
    snap = parse(payload, str(path))
    meta = _read_meta(directory)
    try:
        fetched = datetime.fromisoformat(meta["fetched_at"])
    except (KeyError, TypeError, ValueError):
        fetched = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return PriceData(
        snapshot=snap,
        layer=f"genai-prices-data@{fetched.date().isoformat()}",
        source=f"genai-prices data from {meta.get('url', 'an unknown URL')} cached in {path}",
        fetched_at=fetched,
        newest_price_date=_newest_date(snap),
        models=_count_models(snap),
    )


def last_failure(directory: str | Path) -> dict[str, Any] | None:
    """The last failed update attempt since the last good one: ``{"at", "url", "error"}``, or None."""
    failure = _read_meta(Path(directory)).get("last_failure")
    return failure if isinstance(failure, dict) else None


def update(directory: str | Path, url: str = DEFAULT_URL, timeout: float = 30.0) -> PriceData:
    """Fetch, validate and cache newer data; on any failure raise ``PriceDataError`` and keep the old."""
    directory = Path(directory)
    try:
        payload = _fetch(url, timeout)
        parse(payload, url)
    except PriceDataError as exc:
        _record_failure(directory, url, str(exc))
        raise
    directory.mkdir(parents=True, exist_ok=True)
    _write_atomic(directory / DATA_FILE, payload)
    meta = {
        "url": url,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "bytes": len(payload),
        "genai_prices_version": genai_prices.__version__,
    }
    _write_atomic(directory / META_FILE, json.dumps(meta, indent=2).encode())
    data = load(directory)
    assert data is not None  # just written
    return data


def _fetch(url: str, timeout: float) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "otel-openai-billing prices update"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read(_MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise PriceDataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PriceDataError(f"{url}: cannot fetch ({reason})") from None
    if len(payload) > _MAX_BYTES:
        raise PriceDataError(f"{url}: larger than {_MAX_BYTES} bytes; not genai-prices data")
    return payload


def _record_failure(directory: Path, url: str, error: str) -> None:
    meta = _read_meta(directory)
    meta["last_failure"] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "url": url, "error": error}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write_atomic(directory / META_FILE, json.dumps(meta, indent=2).encode())
    except OSError:
        pass  # an unwritable cache: the error is raised to the caller anyway
