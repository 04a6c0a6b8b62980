import pytest

from otel_openai_billing.pricing import Pricer


@pytest.fixture(scope="module")
def pricer() -> Pricer:
    return Pricer()
