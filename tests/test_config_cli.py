"""Settings precedence (flag > environment > file > default) and the command line."""

import pytest

from wallboard.cli import main
from wallboard.config import Settings, SettingsError, load_settings


def test_precedence_flag_env_file_default(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text(
        '[wallboard]\ndb = "from-file.db"\nport = 9000\ntimezone = "Europe/Madrid"\n'
        'service_level = 30\n[wallboard.service_levels]\n"2000" = 15\n'
    )
    settings = load_settings(config, environ={"WALLBOARD_PORT": "9100"}, overrides={"db": "flag.db"})
    assert settings.db == "flag.db"  # flag beats file
    assert settings.port == 9100  # environment beats file
    assert settings.timezone == "Europe/Madrid"  # file beats default
    assert settings.host == Settings.host  # default
    assert settings.service_level_for("2000") == 15
    assert settings.service_level_for("2001") == 30


def test_environment_names_follow_the_contract():
    env = {
        "WALLBOARD_DB": "postgresql://x/y", "WALLBOARD_QUEUE_LOG": "/var/log/asterisk/queue_log",
        "WALLBOARD_AMI_HOST": "10.0.0.5", "WALLBOARD_AMI_PORT": "5039",
        "WALLBOARD_AMI_USER": "u", "WALLBOARD_AMI_SECRET": "s", "WALLBOARD_TIMEZONE": "UTC",
        "WALLBOARD_HOST": "127.0.0.1", "WALLBOARD_PORT": "8001",
        "WALLBOARD_SERVICE_LEVEL": "25", "WALLBOARD_AMI_TLS": "yes",
        "WALLBOARD_ALLOWED_ORIGINS": "https://a.example, https://b.example",
    }  # fmt: skip
    s = load_settings(environ=env)
    assert (s.db, s.queue_log, s.ami_host, s.ami_port, s.ami_user, s.ami_secret) == (
        "postgresql://x/y", "/var/log/asterisk/queue_log", "10.0.0.5", 5039, "u", "s",
    )  # fmt: skip
    assert (s.timezone, s.port, s.service_level, s.ami_tls) == ("UTC", 8001, 25, True)
    assert s.allowed_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WALLBOARD_PORT": "eighty"}, "port"),
        ({"WALLBOARD_TIMEZONE": "Mars/Olympus"}, "timezone"),
        ({"WALLBOARD_PORT": "70000"}, "ports"),
        ({"WALLBOARD_AMI_TLS": "maybe"}, "ami_tls"),
    ],
)
def test_bad_settings_are_clear_errors(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(environ=env)


def test_unknown_key_in_file_is_an_error(tmp_path):
    config = tmp_path / "w.toml"
    config.write_text('[wallboard]\nprot = 80\n')
    with pytest.raises(SettingsError, match="prot"):
        load_settings(config, environ={})


def test_help_for_every_command(capsys):
    for argv in (["--help"], ["serve", "--help"], ["demo", "--help"], ["import", "--help"],
                 ["users", "--help"], ["displays", "--help"]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
        assert "usage: wallboard" in capsys.readouterr().out


def test_import_command_prints_a_summary(tmp_path, capsys):
    log = tmp_path / "queue_log"
    log.write_text(
        "1700000010|c1|sales|NONE|ENTERQUEUE||555|1\n"
        "garbage\n"
        "1700000020|c1|sales|Bob|CONNECT|10|m|2\n"
        "1700000080|c1|sales|Bob|COMPLETEAGENT|10|60|1\n"
    )
    code = main(["import", str(log), "--db", str(tmp_path / "w.db"), "--timezone", "UTC"])
    out = capsys.readouterr().out
    assert code == 0
    assert "4 lines, 3 events stored, 1 queue calls" in out
    assert "rejected (field_count): 1" in out


def test_import_of_a_missing_file_fails_cleanly(tmp_path, capsys):
    code = main(["import", str(tmp_path / "nope"), "--db", str(tmp_path / "w.db")])
    assert code == 1
    assert "nope" in capsys.readouterr().err


def test_bad_setting_on_the_command_line(capsys):
    assert main(["import", "x", "--timezone", "Nowhere/Land"]) == 2
    assert "timezone" in capsys.readouterr().err
