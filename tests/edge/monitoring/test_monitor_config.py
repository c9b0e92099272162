"""The `monitor:` section of the service configuration: defaults, overrides from YAML and environment, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, load_config


def test_defaults_and_a_yaml_override(tmp_path: Path) -> None:
    assert load_config(None).monitor.no_detections_s == 300
    path = tmp_path / "serve.yaml"
    path.write_text("monitor:\n  no_detections_s: 90\n  min_precision: 0.7\n")
    monitor = load_config(path).monitor
    assert (monitor.no_detections_s, monitor.min_precision, monitor.check_every_s) == (90, 0.7, 5.0)


def test_an_environment_variable_overrides_a_monitor_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QC_MONITOR__NO_DETECTIONS_S", "42")
    assert load_config(None).monitor.no_detections_s == 42


@pytest.mark.parametrize(
    ("yaml_text", "named"),
    [
        ("monitor:\n  no_detections_s: 0\n", "monitor.no_detections_s (line 2)"),
        ("monitor:\n  bucket_s: 600\n  recent_s: 300\n", "recent_s (300) and trailing_s (3600) must each be at least"),
        ("monitor:\n  no_detection_s: 60\n", "monitor.no_detection_s (line 2)"),
    ],
)
def test_bad_monitor_settings_are_refused_naming_the_key(tmp_path: Path, yaml_text: str, named: str) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match="invalid setting") as info:
        load_config(path)
    assert named in str(info.value)
