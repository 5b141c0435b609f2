"""Configuration and disk problems are one line naming the cause, exit code 2, no traceback
(`--debug` shows it): bad MELODEX_* values, a read-only or full MELODEX_HOME (real EROFS/ENOSPC on a
private tmpfs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import typing

import pytest
from test_cli_support import COMMAND, cli_env, melodex, write_tones

from melodex_ml.settings import ConfigurationError, MelodexSettings, env_name, get_settings, is_valid_cron

BAD_VALUES = [
    # variable, value, what the line must say is allowed
    ("MELODEX_BATCH_SIZE", "0", ">= 1"),
    ("MELODEX_BATCH_SIZE", "abc", "whole number"),
    ("MELODEX_DEVICE", "banana", "auto, cpu, cuda, cuda:N or mps"),
    ("MELODEX_DATASET_ROOTS", '{"fma": "/data/fma"', "JSON object"),
    ("MELODEX_DATASET_ROOTS", '["/data/fma"]', "JSON object"),
    ("MELODEX_TRAIN_CRON", "every night", "5 fields"),
    ("MELODEX_SCAN_CRON", "61 * * * *", "5 fields"),
    ("MELODEX_FAILURE_WARN_SHARE", "1.5", "<= 1"),
    ("MELODEX_SEGMENT_SECONDS", "-30", "> 0"),
    ("MELODEX_ALLOW_DOWNLOADS", "maybe", "true or false"),
]


@pytest.mark.parametrize("variable, value, allowed", BAD_VALUES)
def test_a_bad_value_is_one_line_naming_the_variable(tmp_path, variable, value, allowed):
    done = melodex("status", home=tmp_path / "home", **{variable: value})
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.error_lines) == 1, done.stderr
    line = done.error_lines[0]
    assert line.startswith(f"error: {variable}={value!r}: ") and allowed in line, line
    assert not (tmp_path / "home").exists()  # nothing was created before the check


def test_debug_adds_the_traceback(tmp_path):
    done = melodex("--debug", "status", home=tmp_path / "home", MELODEX_BATCH_SIZE="0")
    assert done.returncode == 2
    assert "Traceback" in done.stderr and done.error_lines[-1].startswith("error: MELODEX_BATCH_SIZE='0'")
    after = melodex("status", "--debug", home=tmp_path / "home", MELODEX_BATCH_SIZE="0")  # after the command too
    assert after.returncode == 2 and "Traceback" in after.stderr


def test_every_field_is_named_after_its_variable(monkeypatch):
    """The mapping is generic: any numeric field given a word is reported under MELODEX_<FIELD>."""
    numeric = [
        name for name, info in MelodexSettings.model_fields.items()
        if info.annotation in (int, float) or set(typing.get_args(info.annotation)) & {int, float}
    ]
    assert {"batch_size", "workers", "seed", "failure_warn_share"} <= set(numeric)
    for name in numeric:
        variable = f"MELODEX_{name.upper()}"
        monkeypatch.setenv(variable, "lots")
        with pytest.raises(ConfigurationError) as caught:
            get_settings()
        assert str(caught.value).startswith(f"{variable}='lots': ") and "\n" not in str(caught.value)
        assert env_name(name) == variable
        monkeypatch.delenv(variable)


@pytest.mark.parametrize(
    "expression",
    ["0 4 * * *", "*/15 * * * *", "0 0 1 1 *", "@daily", "@hourly", "0 9 * * mon-fri", "every night", "0 4 * *",
     "61 * * * *", "0 25 * * *", "0 0 30 2 *", "*/5 * * * * *", "", "0 4 * * * extra"],
)
def test_cron_check_agrees_with_dagster(expression):
    from dagster._utils.schedules import is_valid_cron_string

    assert is_valid_cron(expression) == is_valid_cron_string(expression)


def test_a_blank_scan_cron_means_none(monkeypatch):
    monkeypatch.setenv("MELODEX_SCAN_CRON", "  ")
    assert get_settings().scan_cron is None


# --------------------------------------------------------------------------- disk faults


def in_private_tmpfs(tmp_path, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with a 24 MiB tmpfs mounted at $1, in a mount namespace of its own."""
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        pytest.skip("needs util-linux unshare on Linux")
    if subprocess.run([unshare, "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("mount namespaces are not allowed here")
    mount = tmp_path / "mnt"
    mount.mkdir()
    full_script = f'mount -t tmpfs -o size=24m tmpfs "$1" || exit 77\n{script}'
    env = cli_env(mount / "home")
    done = subprocess.run(
        [unshare, "-rm", "sh", "-c", full_script, "sh", str(mount)], env=env, capture_output=True, text=True, timeout=600
    )
    if done.returncode == 77:
        pytest.skip(f"tmpfs cannot be mounted here: {done.stderr.strip()}")
    return done


def scan_twice_script(library, break_disk: str) -> str:
    """A first scan fills the home on the tmpfs, ``break_disk`` breaks it, a new file is added, and
    the second scan's exit code and output are reported between markers."""
    command = " ".join(f"'{part}'" for part in COMMAND)
    return f"""
export MELODEX_LIBRARY_ROOTS='{library}'
{command} scan > /dev/null 2>&1 || {{ echo "first scan failed"; exit 1; }}
{break_disk}
cp '{library}/tone 00.wav' '{library}/added.wav'
{command} scan > "$1.out" 2> "$1.err"
echo "rc=$?"
echo ==stdout; cat "$1.out"; echo ==stderr; cat "$1.err"
"""


def second_scan(done: subprocess.CompletedProcess) -> tuple[int, list[str], str]:
    assert "first scan failed" not in done.stdout, done.stdout + done.stderr
    head, _, rest = done.stdout.partition("==stdout\n")
    stdout, _, stderr = rest.partition("==stderr\n")
    code = int(head.strip().removeprefix("rc="))
    return code, [text for text in stderr.splitlines() if text.strip()], stdout


def test_a_read_only_home_is_one_line(tmp_path):
    library = tmp_path / "library"
    write_tones(library, 3)
    done = in_private_tmpfs(tmp_path, scan_twice_script(library, 'mount -o remount,ro "$1"'))
    code, errors, stdout = second_scan(done)
    assert code == 2, (errors, stdout)
    assert errors == [f"error: {tmp_path / 'mnt' / 'home'} is not writable"], errors


def test_a_full_home_is_one_line(tmp_path):
    library = tmp_path / "library"
    write_tones(library, 3)
    fill = 'head -c 100000000 /dev/zero > "$1/filler" 2>/dev/null; true'
    done = in_private_tmpfs(tmp_path, scan_twice_script(library, fill))
    code, errors, stdout = second_scan(done)
    assert code == 2, (errors, stdout)
    assert len(errors) == 1 and errors[0].startswith("error: no space left in "), errors
    assert str(tmp_path / "mnt") in errors[0]
