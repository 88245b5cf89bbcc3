import pytest

from gateway.core.config import ConfigError, Settings


def test_defaults_are_embedded(tmp_path):
    s = Settings.from_env(tmp_path, {})
    assert s.database_url == f"sqlite:///{tmp_path / 'gateway.db'}"
    assert s.redis_url is None
    assert s.sms_backend == "outbox"
    assert s.ussd_service_code == "*384*123#"
    assert s.default_country == "ZA"
    assert (s.ussd_max_chars, s.at_max_recipients) == (160, 100)
    assert s.proxy_hops == 0  # no proxy's X-Forwarded-For is believed unless said
    # The secret key is generated once and then kept.
    assert len(s.secret_key) == 64
    assert Settings.from_env(tmp_path, {}).secret_key == s.secret_key


def test_values_are_typed_and_urls_normalised(tmp_path):
    s = Settings.from_env(tmp_path, {
        "DATABASE_URL": "postgres://u@h/db", "USSD_MAX_CHARS": "184", "AT_MAX_RECIPIENTS": "500",
        "AT_USERNAME": "sandbox", "AT_API_KEY": "at-key-0123456789", "AT_API_URL": "http://127.0.0.1:9/", "DEFAULT_COUNTRY": "ke",
        "PROXY_HOPS": "1",
    })
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert (s.ussd_max_chars, s.at_max_recipients) == (184, 500)
    assert s.sms_backend == "africastalking"  # because AT_API_KEY is set
    assert s.at_api_url == "http://127.0.0.1:9"
    assert s.default_country == "KE"
    assert s.proxy_hops == 1
    assert s.at_api_key == "at-key-0123456789"
    assert "at-key-0123456789" not in repr(s)  # kept out of repr, and so out of logs


@pytest.mark.parametrize("env,name", [
    ({"USSD_MAX_CHARS": "lots"}, "USSD_MAX_CHARS"),
    ({"USSD_MAX_CHARS": "10"}, "USSD_MAX_CHARS"),
    ({"AT_MAX_RECIPIENTS": "0"}, "AT_MAX_RECIPIENTS"),
    ({"SMS_BACKEND": "carrier-pigeon"}, "SMS_BACKEND"),
    ({"SMS_BACKEND": "africastalking"}, "AT_USERNAME"),
    ({"DEFAULT_COUNTRY": "XX"}, "DEFAULT_COUNTRY"),
    ({"SMS_DAILY_SPEND_CAP": "lots"}, "SMS_DAILY_SPEND_CAP"),
    ({"SMS_DAILY_SPEND_CAP": "-5"}, "SMS_DAILY_SPEND_CAP"),
    ({"PROXY_HOPS": "-1"}, "PROXY_HOPS"),
    ({"PROXY_HOPS": "one"}, "PROXY_HOPS"),
])
def test_bad_values_name_the_variable(tmp_path, env, name):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(tmp_path, env)
