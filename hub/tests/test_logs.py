from __future__ import annotations

import json

import pytest
import structlog
from pydantic import BaseModel, SecretStr

from spokehub.logs import configure_logging, get_logger

TOKEN = "sk_live_9f8e7d6c5b4a3f2e1d0c"
EMAIL = "ada.lovelace@example.com"
PHONE = "+44 20 7946 0958"


class FakeConfig(BaseModel):
    api_key: SecretStr
    base_url: str


@pytest.mark.parametrize("json_output", [True, False])
def test_config_and_record_never_logged_raw(capsys, json_output):
    configure_logging(json_output=json_output)
    log = get_logger("test")
    config = FakeConfig(api_key=SecretStr(TOKEN), base_url="https://api.example.com")
    record = {
        "traits": {"email": EMAIL, "phone": PHONE, "first_name": "Ada", "title": "Countess"},
        "note": f"customer {EMAIL} rang from {PHONE} with Bearer {TOKEN}",
        "headers": {"Authorization": f"Bearer {TOKEN}"},
    }
    log.info("delivering", config=config, record=record, token=TOKEN, url=f"/x?api_key={TOKEN}")
    try:
        raise ValueError(f"vendor said no to {EMAIL}")
    except ValueError:
        log.exception("failed")
    err = capsys.readouterr().err
    # A first name is of PII class contact: masked whole, like the e-mail.
    for raw in (TOKEN, EMAIL, PHONE, "7946 0958", "Ada"):
        assert raw not in err
    assert "Countess" in err  # values of fields of class none survive
    assert "api.example.com" in err
    if json_output:
        lines = [json.loads(line) for line in err.strip().splitlines()]
        assert lines[0]["event"] == "delivering"
    structlog.reset_defaults()


def test_stdlib_logging_is_redacted_too(capsys):
    import logging
    import logging.config

    import uvicorn.config

    # A server configured before us (uvicorn's defaults) must not keep its own raw handler.
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)
    configure_logging(json_output=True)
    logging.getLogger("uvicorn.error").warning("client %s failed", EMAIL)
    err = capsys.readouterr().err
    assert EMAIL not in err
    assert "client" in err
    structlog.reset_defaults()
