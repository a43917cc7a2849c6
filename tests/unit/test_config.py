"""The TOML configuration: defaults, a full file, and errors that name file, line and key."""

from __future__ import annotations

import tomllib
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from console.config import Config, load_config, parse_config, to_toml
from incidents.limits import BUILTIN_RULES, LimitRule, Policy, Resolved
from incidents.models import Stage
from jurisdiction.models import GridRules
from store.errors import ConfigError
from store.paths import default_config_path

FULL = """\
# the township duty office
operator = "王值班"
timezone = "Asia/Shanghai"

[calendar]
workdays = ["mon", "tue", "wed", "thu", "fri"]
hours = ["09:00-12:00", "14:00-18:00"]
holidays = [2026-10-01, "2026-10-02"]
extra_workdays = ["2026-09-27"]

[limits]
remind_every_minutes = 30

[[limits.rule]]
category = "environment"
unit = "natural"
handling = 48

[[limits.rule]]
category = "accident_disaster"
type = "fire"
urgency = "very_urgent"
reported = 0.1
handling = 2

[shift]
leads = ["李班长", "赵班长"]
second_extension_approvals = 3
office = "城关镇应急办"

[ui]
refresh_seconds = 2.5

[channels.sms]
url = "http://127.0.0.1:9000/sms"
batch = 100

[channels.webhook]
timeout_s = 5

[serve]
port = 8471
public_url = "https://duty.example.cn/"

[mobilize]
interval_seconds = 90

[uplink]
url = "http://county.example/api"
unit = "330106001"
token_file = "uplink.token"
alarm_minutes = 20

[hub]
enabled = true
silent_minutes = 45
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def fail(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    message = str(refused.value)
    assert str(path) in message
    return message


def test_defaults_without_a_file(tmp_path: Path) -> None:
    for config in (load_config(None), load_config(tmp_path / "missing.toml")):
        assert config.path is None
        assert config.operator == "duty-officer"
        assert config.timezone == "Asia/Shanghai"
        assert config.zone == ZoneInfo("Asia/Shanghai")
        assert config.refresh_seconds == 1.0
        assert config.policy == Policy()
        assert config.policy.rules == BUILTIN_RULES


def test_the_default_location_is_used_when_present(tmp_path: Path) -> None:
    path = default_config_path()
    assert path.is_relative_to(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('operator = "夜班"\n', encoding="utf-8")
    assert load_config(path).operator == "夜班"


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist") as refused:
        load_config(missing, must_exist=True)
    assert str(missing) in str(refused.value)


def test_a_full_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_config(path)
    assert config.path == path
    assert config.operator == "王值班"
    assert config.refresh_seconds == 2.5
    cal = config.policy.calendar
    assert cal.workdays == frozenset(range(5))
    assert cal.hours == ((time(9), time(12)), (time(14), time(18)))
    assert cal.holidays == {date(2026, 10, 1), date(2026, 10, 2)}
    assert cal.extra_workdays == {date(2026, 9, 27)}
    policy = config.policy
    assert policy.remind_every == timedelta(minutes=30)
    assert policy.shift_leads == ("李班长", "赵班长")
    assert policy.second_extension_approvals == 3
    assert policy.office_name == "城关镇应急办"
    assert policy.rules[: len(BUILTIN_RULES)] == BUILTIN_RULES
    assert policy.rules[len(BUILTIN_RULES) :] == (
        LimitRule(hours={"handling": 48.0}, unit="natural", category="environment"),
        LimitRule(
            hours={"reported": 0.1, "handling": 2.0},
            category="accident_disaster",
            type="fire",
            urgency="very_urgent",
        ),
    )
    assert policy.limit(Stage.HANDLING, "environment", "noise", "normal") == Resolved(48, "natural")
    assert policy.limit(Stage.HANDLING, "accident_disaster", "fire", "very_urgent").hours == 2
    assert config.channels.configured >= {"sms", "webhook"}
    assert config.base_url == "https://duty.example.cn"
    assert config.serve_port == 8471 and config.mobilize_interval_s == 90


def test_another_time_zone_reaches_the_calendar(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'timezone = "Europe/Berlin"\n'))
    assert config.zone == ZoneInfo("Europe/Berlin")
    assert config.policy.calendar.zone == ZoneInfo("Europe/Berlin")


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    message = fail(tmp_path, 'operator = "a"\n\n[calendar\nhours = []\n')
    assert "not valid TOML" in message
    assert "line 3" in message


def test_an_unfinished_value_names_its_line(tmp_path: Path) -> None:
    message = fail(tmp_path, 'operator = "a"\ntimezone = \n')
    assert "line 2" in message


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ('operator = "a"\ncolour = "red"\n', 2, "colour"),
        ('[calendar]\nworkdays = ["mon"]\nweekend = ["sun"]\n', 3, "calendar.weekend"),
        ("[limits]\nremind_every = 5\n", 2, "limits.remind_every"),
        ('[shift]\nleads = []\nboss = "x"\n', 3, "shift.boss"),
        ('[ui]\ncolour = "dark"\n', 2, "ui.colour"),
        ("[ui.colors]\nred = 1\n", 1, "ui.colors"),
        (
            '[[limits.rule]]\nhandling = 3\n\n[[limits.rule]]\nunit = "natural"\nclosed = 5\n',
            6,
            "limits.rule[1].closed",
        ),
    ],
)
def test_an_unknown_key_names_line_and_key(tmp_path: Path, text: str, line: int, key: str) -> None:
    message = fail(tmp_path, text)
    assert f"line {line}," in message
    assert f"key '{key}'" in message
    assert "unknown setting" in message


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ('operator = "a"\ntimezone = "Mars/Olympus"\n', 2, "timezone", "unknown time zone"),
        ('operator = "  "\n', 1, "operator", "non-empty"),
        ('[calendar]\nhours = ["17:30-08:30"]\n', 2, "calendar.hours", "start must be before"),
        ('[calendar]\nhours = ["8am-noon"]\n', 2, "calendar.hours", "08:30-12:00"),
        ('[calendar]\nhours = ["08:00-12:00", "11:00-14:00"]\n', 2, "calendar.hours", "overlap"),
        ("[calendar]\nhours = []\n", 2, "calendar.hours", "no working time"),
        ('[calendar]\nworkdays = ["someday"]\n', 2, "calendar.workdays", "day names"),
        ('[calendar]\nholidays = ["2026-13-01"]\n', 2, "calendar.holidays", "dates like"),
        ("[limits]\nremind_every_minutes = -5\n", 2, "limits.remind_every_minutes", "positive"),
        ("[limits]\nremind_every_minutes = true\n", 2, "limits.remind_every_minutes", "positive"),
        (
            "[shift]\nsecond_extension_approvals = 0\n",
            2,
            "shift.second_extension_approvals",
            ">= 1",
        ),
        ('[shift]\nleads = "李班长"\n', 2, "shift.leads", "list of operator names"),
        ('[shift]\noffice = ""\n', 2, "shift.office", "non-empty"),
        ("[ui]\nrefresh_seconds = 0\n", 2, "ui.refresh_seconds", "positive"),
        ("[grid]\nhouseholds_min = -1\n", 2, "grid.households_min", "whole number >= 0"),
        ("[grid]\nhouseholds_max = 4.5\n", 2, "grid.households_max", "whole number >= 0"),
        (
            "[grid]\nhouseholds_min = 600\nhouseholds_max = 500\n",
            3,
            "grid.households_max",
            "below households_min",
        ),
        ('[grid]\ngap_tolerance_m2 = "1"\n', 2, "grid.gap_tolerance_m2", "square metres"),
        ("[grid]\noverlap_tolerance_m2 = -2\n", 2, "grid.overlap_tolerance_m2", ">= 0"),
        ("[grid]\nhouseholds = 300\n", 2, "grid.households", "unknown setting"),
    ],
)
def test_a_bad_value_names_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, says: str
) -> None:
    message = fail(tmp_path, text)
    assert f"line {line}," in message
    assert f"key '{key}'" in message
    assert says in message


RULE = (
    '[limits]\nremind_every_minutes = 60\n\n[[limits.rule]]\ncategory = "dispute"\nhandling = 5\n\n'
)


@pytest.mark.parametrize(
    ("rule", "line", "key", "says"),
    [
        (
            '[[limits.rule]]\ncategory = "weather"\n',
            9,
            "limits.rule[1].category",
            "unknown category",
        ),
        (
            '[[limits.rule]]\ncategory = "dispute"\ntype = "fire"\n',
            10,
            "limits.rule[1].type",
            "unknown type 'fire' in dispute",
        ),
        ('[[limits.rule]]\ntype = "fire"\n', 9, "limits.rule[1].type", "needs its category"),
        ('[[limits.rule]]\nunit = "lunar"\n', 9, "limits.rule[1].unit", "natural or working"),
        ('[[limits.rule]]\nurgency = "asap"\nhandling = 1\n', 9, "limits.rule[1].urgency", "use"),
        ("[[limits.rule]]\nhandling = -4\n", 9, "limits.rule[1].handling", "positive"),
        ("[[limits.rule]]\nfeedback = 0\n", 9, "limits.rule[1].feedback", "positive"),
        ('[[limits.rule]]\nverified = "8h"\n', 9, "limits.rule[1].verified", "positive"),
        ("[[limits.rule]]\nhandling = true\n", 9, "limits.rule[1].handling", "positive"),
    ],
)
def test_a_bad_rule_names_line_and_key(
    tmp_path: Path, rule: str, line: int, key: str, says: str
) -> None:
    message = fail(tmp_path, RULE + rule)
    assert f"line {line}," in message
    assert f"key '{key}'" in message
    assert says in message


def test_an_empty_rule_is_refused(tmp_path: Path) -> None:
    message = fail(tmp_path, RULE + '[[limits.rule]]\ncategory = "environment"\n')
    assert "limits.rule[1]" in message
    assert "at least one stage" in message


@pytest.mark.parametrize(
    "name", ["calendar", "limits", "shift", "ui", "grid", "contacts", "channels", "uplink"]
)
def test_a_section_that_is_not_a_table(tmp_path: Path, name: str) -> None:
    message = fail(tmp_path, f'operator = "a"\n{name} = 5\n')
    assert f"key '{name}'" in message
    assert "line 2," in message
    assert "must be a table" in message


def test_effective_settings_fill_in_defaults() -> None:
    effective = Config(path=None).effective()
    assert effective["file"] is None
    assert effective["calendar"]["workdays"] == ["mon", "tue", "wed", "thu", "fri"]
    assert effective["calendar"]["hours"] == ["08:30-12:00", "13:30-17:30"]
    assert effective["limits"]["remind_every_minutes"] == 120
    assert effective["limits"]["rule"] == []
    assert len(effective["limits"]["builtin_rule"]) == len(BUILTIN_RULES)
    assert effective["shift"] == {
        "leads": [],
        "second_extension_approvals": 2,
        "office": "duty-office",
    }


@pytest.mark.parametrize(
    "text", ["", FULL, '[ui]\nlanguage = "zh-CN"\n'], ids=["defaults", "full", "language"]
)
def test_to_toml_reparses_to_the_effective_settings(text: str) -> None:
    effective = parse_config(text, "<test>").effective()
    rendered = to_toml(effective)
    parsed = tomllib.loads(rendered)
    expected = {k: v for k, v in effective.items() if k != "file"}
    # No [ui] language means the locale decides: None, which TOML cannot hold, is left out.
    if expected["ui"]["language"] is None:
        del expected["ui"]["language"]
    assert parsed == expected


def test_to_toml_quotes_keys_and_renders_every_toml_type() -> None:
    text = (
        '[uplink."短信 网关"]\nurl = "http://x"\n"a.b" = 1\n'
        "[uplink]\nsince = 2026-01-01\nat = 2026-01-01T08:00:00+08:00\nwindow = 08:30:00\n"
        'max = inf\nsign = "tab\\there\\u007f"\nflags = [true, false]\n'
    )
    parsed = tomllib.loads(to_toml(tomllib.loads(text)))
    assert parsed["uplink"]["短信 网关"] == {"url": "http://x", "a.b": 1}
    assert parsed["uplink"] == tomllib.loads(text)["uplink"]
    assert parsed["uplink"]["since"] == date(2026, 1, 1)
    assert parsed["uplink"]["sign"] == "tab\there\x7f"


def test_grid_rules_default_and_configured(tmp_path: Path) -> None:
    assert load_config(None).grid_rules == GridRules(300, 500, 1.0, 1.0)
    config = load_config(
        write(
            tmp_path,
            "[grid]\nhouseholds_min = 150\nhouseholds_max = 250\n"
            "overlap_tolerance_m2 = 5\ngap_tolerance_m2 = 0.5\n",
        )
    )
    assert config.grid_rules == GridRules(150, 250, 5.0, 0.5)
    assert config.effective()["grid"] == {
        "households_min": 150,
        "households_max": 250,
        "overlap_tolerance_m2": 5.0,
        "gap_tolerance_m2": 0.5,
    }
    assert tomllib.loads(to_toml(config.effective()))["grid"] == config.effective()["grid"]


def test_phone_region_default_configured_and_checked(tmp_path: Path) -> None:
    assert load_config(None).phone_region == "CN"
    assert Config(path=None).effective()["contacts"] == {"phone_region": "CN"}
    config = load_config(write(tmp_path, '[contacts]\nphone_region = "hk"\n'))
    assert config.phone_region == "HK"
    assert tomllib.loads(to_toml(config.effective()))["contacts"] == {"phone_region": "HK"}
    message = fail(tmp_path, 'operator = "a"\n[contacts]\nphone_region = "XX"\n')
    assert "line 3," in message
    assert "key 'contacts.phone_region'" in message
    assert "two-letter region" in message
    unknown = fail(tmp_path, "[contacts]\nregion = 'CN'\n")
    assert "key 'contacts.region'" in unknown


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[channels.sms]\nurl = "ftp://x"\n', "channels.sms.url"),
        ("[channels.sms]\nurl = 'http://x'\nbatch = 0.5\n", "channels.sms.batch"),
        ("[channels.pager]\nurl = 'http://x'\n", "channels.pager"),
        ("[serve]\nport = 70000\n", "serve.port"),
        ("[mobilize]\ninterval_seconds = -1\n", "mobilize.interval_seconds"),
    ],
)
def test_channel_serve_and_mobilize_errors_name_the_key(
    tmp_path: Path, text: str, where: str
) -> None:
    message = fail(tmp_path, text)
    assert where in message and "line" in message


def test_theme_and_bell_default_configured_and_shown(tmp_path: Path) -> None:
    config = load_config(None)
    assert (config.theme, config.bell) == ("dark", True)
    assert Config(path=None).effective()["ui"] == {
        "refresh_seconds": 1.0,
        "theme": "dark",
        "bell": True,
        "home": "dashboard",
        "language": None,
    }
    config = load_config(
        write(tmp_path, '[ui]\ntheme = "light"\nbell = false\nhome = "incidents"\n')
    )
    assert (config.theme, config.bell, config.home) == ("light", False, "incidents")
    ui = tomllib.loads(to_toml(config.effective()))["ui"]
    assert (ui["theme"], ui["bell"]) == ("light", False)


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ('[ui]\nrefresh_seconds = 2\ntheme = "blue"\n', 3, "ui.theme", '"dark" or "light"'),
        ("[ui]\ntheme = 1\n", 2, "ui.theme", '"dark" or "light"'),
        ('[ui]\nbell = "yes"\n', 2, "ui.bell", "true or false"),
        ("[ui]\nbell = 1\n", 2, "ui.bell", "true or false"),
        ('[ui]\nhome = "map"\n', 2, "ui.home", '"dashboard" or "incidents"'),
        ('[ui]\nlanguage = "fr"\n', 2, "ui.language", '"en" or "zh_CN"'),
    ],
)
def test_a_bad_theme_or_bell_names_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, says: str
) -> None:
    message = fail(tmp_path, text)
    assert f"line {line}," in message
    assert f"key '{key}'" in message
    assert says in message


def test_security_and_inbound_settings_default_configured_and_shown(tmp_path: Path) -> None:
    default = parse_config("")
    assert default.security.max_extension == timedelta(days=30)
    assert default.security.lockout_failures == 5
    assert default.inbound_port is None and default.inbound_secret_file is None
    assert default.key_path(tmp_path / "duty.db") == tmp_path / "duty.keys"
    path = tmp_path / "config.toml"
    path.write_text(
        '[serve]\ninbound_host = "10.0.0.2"\ninbound_port = 8471\n'
        'inbound_secret_file = "gateway.secret"\n\n'
        '[security]\nkey_file = "/srv/keys/duty.keys"\nmax_extension_days = 7\n'
        "lockout_failures = 3\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert (config.inbound_host, config.inbound_port) == ("10.0.0.2", 8471)
    # A relative file is found next to the configuration that names it.
    assert config.inbound_secret_file == tmp_path / "gateway.secret"
    assert config.key_path(tmp_path / "duty.db") == Path("/srv/keys/duty.keys")
    assert config.security.max_extension == timedelta(days=7)
    shown = config.effective()
    assert shown["security"]["max_extension_days"] == 7
    assert shown["serve"]["inbound_port"] == 8471
    assert to_toml(shown)  # renders


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("[security]\nmax_extension_days = 9999\n", 2, "security.max_extension_days"),
        ("[security]\nkey_file = 3\n", 2, "security.key_file"),
        ("[serve]\ninbound_port = 70000\n", 2, "serve.inbound_port"),
        ("[security]\nlockout = 1\n", 2, "security.lockout"),
    ],
)
def test_bad_security_settings_name_line_and_key(
    tmp_path: Path, text: str, line: int, key: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"line {line}.*{key}"):
        load_config(path)


def test_secrets_are_not_shown() -> None:
    config = parse_config('[channels.sms]\nurl = "http://gw/send"\ntoken = "s3cret"\n')
    shown = to_toml(config.effective())
    assert "s3cret" not in shown and 'token = "***"' in shown


# --- [sitrep] ----------------------------------------------------------------------------------

SITREP = """\
[sitrep]
marked_minutes = 45
followup_minutes = 90
daily_hours = 12
final_hours = 48
signers = ["王主任", " 李班长 ", "王主任"]
signer_posts = ["sl", "DL"]
signer_roles = ["办公室主任", "shift-lead"]
unit_name = "青山街道"
template = "templates/sitrep.docx"

[[sitrep.rule]]
severity = "II"
initial_minutes = 40
phone_minutes = 20

[[sitrep.rule]]
category = "accident_disaster"
type = "fire"
severity = 4
initial_minutes = 60
"""


def test_sitrep_defaults_follow_the_issue() -> None:
    rules = load_config(None).sitrep
    assert rules == parse_config("").sitrep
    assert (rules.marked_minutes, rules.followup_minutes) == (60, 60)
    assert (rules.daily_hours, rules.final_hours) == (24, 24)
    assert (rules.signers, rules.signer_posts) == ((), ("SL",))
    assert rules.signer_roles == ("shift_lead", "office_head")
    assert rules.template is None
    minutes = {
        level: rules.initial_minutes("dispute", "neighbour", level, marked=False)
        for level in (1, 2, 3, 4)
    }
    assert minutes == {1: (30, None), 2: (30, None), 3: (60, None), 4: (None, None)}
    assert rules.initial_minutes("dispute", "neighbour", 4, marked=True) == (60, None)
    shown = Config(path=None).effective()["sitrep"]
    assert shown["rule"] == [] and len(shown["builtin_rule"]) == 4
    assert "template" not in shown


def test_sitrep_configured(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SITREP))
    rules = config.sitrep
    assert (rules.marked_minutes, rules.followup_minutes) == (45, 90)
    assert (rules.daily_hours, rules.final_hours) == (12, 48)
    assert rules.signers == ("王主任", "李班长")  # trimmed, each once
    assert rules.signer_posts == ("sl", "DL")
    assert rules.signer_roles == ("office_head", "shift_lead")  # Chinese labels accepted
    assert rules.unit_name == "青山街道"
    # a relative template is found next to the configuration that names it
    assert rules.template == str(tmp_path / "templates" / "sitrep.docx")
    assert rules.initial_minutes("dispute", "neighbour", 2, marked=False) == (40, 20)
    assert rules.initial_minutes("dispute", "neighbour", 1, marked=False) == (30, None)
    assert rules.initial_minutes("accident_disaster", "fire", 4, marked=False) == (60, None)
    assert rules.initial_minutes("dispute", "neighbour", 4, marked=True) == (45, None)
    shown = config.effective()["sitrep"]
    assert shown["rule"] == [
        {"severity": 2, "initial_minutes": 40, "phone_minutes": 20},
        {"category": "accident_disaster", "type": "fire", "severity": 4, "initial_minutes": 60},
    ]
    assert shown["template"] == str(tmp_path / "templates" / "sitrep.docx")


def test_sitrep_settings_render_as_toml_that_reads_back() -> None:
    effective = parse_config(SITREP, "<test>").effective()
    assert tomllib.loads(to_toml(effective))["sitrep"] == effective["sitrep"]


def test_a_sitrep_rule_without_minutes_exempts_its_cases() -> None:
    rules = parse_config('[[sitrep.rule]]\ncategory = "dispute"\nseverity = 3\n').sitrep
    assert rules.initial_minutes("dispute", "neighbour", 3, marked=False) == (None, None)
    assert rules.initial_minutes("dispute", "neighbour", 3, marked=True) == (60, None)
    assert rules.initial_minutes("environment", "pollution", 3, marked=False) == (60, None)


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ("[sitrep]\nmarked_minutes = 0\n", 2, "sitrep.marked_minutes", "from 1 to 10080"),
        ("[sitrep]\nfollowup_minutes = 1.5\n", 2, "sitrep.followup_minutes", "whole number"),
        ('[sitrep]\ndaily_hours = "24"\n', 2, "sitrep.daily_hours", "from 1 to 720"),
        ("[sitrep]\nfinal_hours = true\n", 2, "sitrep.final_hours", "whole number"),
        ('[sitrep]\nsigners = "王主任"\n', 2, "sitrep.signers", "list of names"),
        ('[sitrep]\nsigners = ["a", ""]\n', 2, "sitrep.signers", "list of names"),
        ('[sitrep]\nsigners = ["a\\nb"]\n', 2, "sitrep.signers", "one line"),
        ("[sitrep]\nsigner_posts = [1]\n", 2, "sitrep.signer_posts", "list of names"),
        ('[sitrep]\nsigner_roles = ["boss"]\n', 2, "sitrep.signer_roles", "office-head"),
        ("[sitrep]\nunit_name = 5\n", 2, "sitrep.unit_name", "must be a string"),
        ("[sitrep]\ntemplate = 5\n", 2, "sitrep.template", "file path"),
        ("[sitrep]\nrule = 5\n", 2, "sitrep.rule", "[[sitrep.rule]]"),
        ("[sitrep]\nsigner = []\n", 2, "sitrep.signer", "unknown setting"),
    ],
)
def test_a_bad_sitrep_value_names_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, says: str
) -> None:
    message = fail(tmp_path, text)
    assert f"line {line}," in message
    assert f"key '{key}'" in message
    assert says in message


SITREP_RULE = (
    "[sitrep]\ndaily_hours = 24\n\n[[sitrep.rule]]\nseverity = 1\ninitial_minutes = 20\n\n"
)


@pytest.mark.parametrize(
    ("rule", "line", "key", "says"),
    [
        (
            '[[sitrep.rule]]\ncategory = "weather"\n',
            9,
            "sitrep.rule[1].category",
            "unknown category",
        ),
        (
            '[[sitrep.rule]]\ncategory = "dispute"\ntype = "fire"\n',
            10,
            "sitrep.rule[1].type",
            "unknown type 'fire' in dispute",
        ),
        ('[[sitrep.rule]]\ntype = "fire"\n', 9, "sitrep.rule[1].type", "needs its category"),
        ("[[sitrep.rule]]\nseverity = 5\n", 9, "sitrep.rule[1].severity", "I, II, III or IV"),
        ('[[sitrep.rule]]\nseverity = "V"\n', 9, "sitrep.rule[1].severity", "I, II, III or IV"),
        ("[[sitrep.rule]]\nseverity = true\n", 9, "sitrep.rule[1].severity", "I, II, III or IV"),
        (
            "[[sitrep.rule]]\nseverity = 2\ninitial_minutes = 0\n",
            10,
            "sitrep.rule[1].initial_minutes",
            "from 1 to 10080",
        ),
        (
            '[[sitrep.rule]]\nseverity = 2\nphone_minutes = "20"\n',
            10,
            "sitrep.rule[1].phone_minutes",
            "whole number of minutes",
        ),
        (
            "[[sitrep.rule]]\nseverity = 2\ninitial_minutes = 20\nphone_minutes = 40\n",
            11,
            "sitrep.rule[1].phone_minutes",
            "after the written one (20 minutes)",
        ),
        ("[[sitrep.rule]]\nseverity = 2\nurgency = 1\n", 10, "sitrep.rule[1].urgency", "unknown"),
        ("[[sitrep.rule]]\ninitial_minutes = 20\n", 8, "sitrep.rule[1]", "category or a severity"),
    ],
)
def test_a_bad_sitrep_rule_names_line_and_key(
    tmp_path: Path, rule: str, line: int, key: str, says: str
) -> None:
    message = fail(tmp_path, SITREP_RULE + rule)
    assert f"line {line}," in message
    assert f"key '{key}'" in message
    assert says in message


def test_a_sitrep_section_that_is_not_a_table(tmp_path: Path) -> None:
    message = fail(tmp_path, 'operator = "a"\nsitrep = 5\n')
    assert "line 2," in message and "key 'sitrep'" in message and "must be a table" in message


# --- [warning], [uplink] poll_seconds, [hub] call_start_minutes --------------------------------

WARNING = """\
[uplink]
poll_seconds = 30

[hub]
call_start_minutes = 20

[warning]
call_levels = "orange"
exercise_calls = true
roles = ["community_secretary", "网格长"]
posts = ["ld", "DO"]
answer_minutes = 3
repeats = 2

[[warning.rule]]
event = "暴雨"
levels = ["yellow", "Severe", "红色"]

[[warning.rule]]
event = "大风"
roles = ["grid_leader"]
posts = ["DO"]
"""


def test_warning_defaults_follow_the_issue() -> None:
    config = load_config(None)
    assert config.warning == parse_config("").warning
    assert config.warning.call_levels == ("Severe", "Extreme")
    assert config.warning.exercise_calls is False
    assert config.warning.roles == ("community_secretary", "grid_leader")
    assert config.warning.posts == ("LD", "DO")
    assert config.uplink.poll_seconds == 60
    assert config.hub.call_start == timedelta(minutes=15)
    applied = config.warning.for_event("暴雨")
    assert (applied.levels, applied.rule) == (("Severe", "Extreme"), None)
    shown = config.effective()
    assert shown["warning"]["call_levels"] == ["Severe", "Extreme"]
    assert shown["uplink"]["poll_seconds"] == 60
    assert shown["hub"]["call_start_minutes"] == 15


def test_warning_configured() -> None:
    config = parse_config(WARNING, "<test>")
    rules = config.warning
    assert rules.call_levels == ("Extreme", "Severe")  # "orange": orange and above
    assert rules.exercise_calls is True
    assert rules.roles == ("community_secretary", "grid_leader")  # Chinese labels accepted
    assert rules.posts == ("LD", "DO")
    assert (rules.answer_minutes, rules.repeats) == (3, 2)
    rain = rules.for_event("暴雨预警")  # a trailing 预警 is the same event
    assert rain.levels == ("Extreme", "Severe", "Moderate") and rain.rule == "暴雨"
    assert rain.roles == rules.roles and rain.posts == rules.posts
    wind = rules.for_event("大风")
    assert (wind.levels, wind.roles, wind.posts) == (rules.call_levels, ("grid_leader",), ("DO",))
    assert config.uplink.poll_seconds == 30
    assert config.hub.call_start == timedelta(minutes=20)


def test_warning_settings_render_as_toml_that_reads_back() -> None:
    effective = parse_config(WARNING, "<test>").effective()
    again = parse_config(to_toml({"warning": effective["warning"]}), "<again>")
    assert again.warning == parse_config(WARNING, "<test>").warning
    assert tomllib.loads(to_toml(effective))["warning"] == effective["warning"]


@pytest.mark.parametrize(
    ("text", "line", "key", "says"),
    [
        ('[warning]\ncall_levels = ["purple"]\n', 2, "warning.call_levels", "not a severity"),
        ("[warning]\ncall_levels = []\n", 2, "warning.call_levels", "CAP severities or colours"),
        ('[warning]\ncall_levels = "Unknown"\n', 2, "warning.call_levels", "CAP severities"),
        ('[warning]\nexercise_calls = "yes"\n', 2, "warning.exercise_calls", "true or false"),
        ('[warning]\nroles = ["boss"]\n', 2, "warning.roles", "grid-leader"),
        ('[warning]\nroles = "grid_leader"\n', 2, "warning.roles", "list of roles"),
        ('[warning]\nposts = ["D O"]\n', 2, "warning.posts", "roster post codes"),
        ("[warning]\nanswer_minutes = 0\n", 2, "warning.answer_minutes", "from 1 to 1440"),
        ("[warning]\nrepeats = 11\n", 2, "warning.repeats", "from 0 to 10"),
        ("[warning]\nrule = 5\n", 2, "warning.rule", "[[warning.rule]]"),
        ("[warning]\nlevels = []\n", 2, "warning.levels", "unknown setting"),
        ("[uplink]\npoll_seconds = 0\n", 2, "uplink.poll_seconds", "from 1 to 86400"),
        ("[hub]\ncall_start_minutes = 1.5\n", 2, "hub.call_start_minutes", "whole number"),
    ],
)
def test_a_bad_warning_value_names_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, says: str
) -> None:
    message = fail(tmp_path, text)
    assert f"line {line}," in message
    assert f"key '{key}'" in message
    assert says in message


@pytest.mark.parametrize(
    ("rule", "line", "key", "says"),
    [
        ('[[warning.rule]]\nlevels = ["red"]\n', 4, "warning.rule[1]", "event name"),
        ('[[warning.rule]]\nevent = " "\nposts = []\n', 5, "warning.rule[1].event", "event name"),
        ('[[warning.rule]]\nevent = "暴雨"\n', 4, "warning.rule[1]", "levels, roles or posts"),
        (
            '[[warning.rule]]\nevent = "暴雨"\nlevels = ["pink"]\n',
            6,
            "warning.rule[1].levels",
            "not a severity",
        ),
        (
            '[[warning.rule]]\nevent = "暴雨"\ncolour = "red"\n',
            6,
            "warning.rule[1].colour",
            "unknown setting",
        ),
    ],
)
def test_a_bad_warning_rule_names_line_and_key(
    tmp_path: Path, rule: str, line: int, key: str, says: str
) -> None:
    base = '[[warning.rule]]\nevent = "台风"\nposts = ["DO"]\n'
    message = fail(tmp_path, base + rule)
    assert f"line {line}," in message
    assert f"key '{key}'" in message
    assert says in message


# --- deferred sections -------------------------------------------------------------------------

BAD_WARNING = 'operator = "王伟"\n\n[warning]\nanswer_minutes = -3\n'


def test_every_section_is_checked_when_the_file_is_read() -> None:
    with pytest.raises(ConfigError, match=r"line 4, key 'warning.answer_minutes'"):
        parse_config(BAD_WARNING, "dutydesk.toml")


def test_a_deferred_section_is_refused_on_first_use_with_its_line_and_key() -> None:
    """The console reads the file with the sections deferred: the rest is taken, and the
    section's problem is the same error when it is first read (or checked)."""
    config = parse_config(BAD_WARNING, "dutydesk.toml", deferred=True)
    assert config.operator == "王伟"
    assert config.sitrep == parse_config("").sitrep  # a good section reads as usual
    with pytest.raises(ConfigError, match=r"dutydesk.toml, line 4, key 'warning.answer_minutes'"):
        config.warning  # noqa: B018 - reading it parses it
    with pytest.raises(ConfigError, match=r"line 4, key 'warning.answer_minutes'"):
        config.sections.check()


def test_deferred_sections_parse_once_and_equal_the_eager_ones(tmp_path: Path) -> None:
    text = "[grid]\nhouseholds_min = 150\nhouseholds_max = 250\n\n[field]\naccept_minutes = 20\n"
    eager, lazy = parse_config(text), parse_config(text, deferred=True)
    assert lazy.field_rules is lazy.field_rules  # parsed once, then kept
    assert lazy.grid_rules == eager.grid_rules == GridRules(150, 250, 1.0, 1.0)
    assert lazy == eager
    assert lazy.effective() == eager.effective()


def test_with_sections_replaces_only_the_sections_given() -> None:
    from uplink.sitrep_rules import SitrepRules

    config = parse_config("[field]\naccept_minutes = 20\n")
    signed = config.with_sections(sitrep=SitrepRules(signers=("李芳",)))
    assert signed.sitrep.signers == ("李芳",)
    assert signed.field_rules.accept_minutes == 20
    assert config.sitrep.signers == ()  # the original is left as it was
