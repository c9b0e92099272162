"""The service configuration: YAML + QC_* environment, every bad key named with its line, `qc serve --validate-config`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.config import ConfigError, ServeConfig, load_config
from edge.service.counting import counting_line, flag_policy

GOOD_YAML = """\
service: {host: 0.0.0.0, port: 9000}
data_dir: /tmp/qc-test-data
counting:
  flag_below: {default: 0.5, banana: 0.4}
  skus: {APL-1: apple}
cameras:
  - id: belt1
    token: belt1-token-123
    line: {x: 0.5}
    direction: +x
  - id: belt2
    token: belt2-token-123
    line: {points: [[0.3, 0.0], [0.7, 1.0]]}
    direction: +x
    flag_below: {apple: 0.6}
    sku: APL-1
batcher: {max_batch: 16, max_wait_ms: 5, queue_limit: 128}
"""


@pytest.fixture(autouse=True)
def no_qc_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("QC_"):
            monkeypatch.delenv(key)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "serve.yaml"
    path.write_text(text)
    return path


def test_a_good_file_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD_YAML))
    assert cfg.service.port == 9000
    assert [c.id for c in cfg.cameras] == ["belt1", "belt2"]
    assert cfg.camera("belt2").line.points == ((0.3, 0.0), (0.7, 1.0))
    assert cfg.camera("belt1").token.get_secret_value() == "belt1-token-123"
    assert "belt1-token-123" not in repr(cfg)  # secrets do not leak into logs
    assert cfg.store_url == "sqlite:////tmp/qc-test-data/qc.sqlite3"
    policy = flag_policy(cfg, cfg.camera("belt2"))
    assert (policy.threshold("apple"), policy.threshold("banana"), policy.threshold("tomato")) == (0.6, 0.4, 0.5)
    line = counting_line(cfg.camera("belt2").line, "+x", 640, 480)
    assert (line.a, line.b, line.bounded) == ((192.0, 0.0), (448.0, 480.0), True)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QC_SERVICE__PORT", "9100")
    monkeypatch.setenv("QC_STORE__URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    monkeypatch.setenv("QC_REGISTRY", "/elsewhere")  # the registry's own variable is not a config key
    cfg = load_config(write(tmp_path, GOOD_YAML))
    assert cfg.service.port == 9100 and cfg.service.host == "0.0.0.0"
    assert cfg.store_url.startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("port: 9000", "port: 99999"), "service.port (line 1): Input should be less than or equal to 65535"),
        (("line: {x: 0.5}", "line: {x: 1.5}"), "cameras[0].line.x (line 9): Input should be less than or equal to 1"),
        (("line: {x: 0.5}", "line: {x: 0.5, y: 0.5}"), "cameras[0].line (line 9): Value error, give exactly one of"),
        (("token: belt1-token-123", "token: short"), "cameras[0].token (line 8): Value error, token must be at least 8"),
        (("    sku: APL-1", "    colour: red"), "cameras[1].colour (line 16): Extra inputs are not permitted"),
        (("id: belt2", "id: belt1"), "cameras (line 6): Value error, camera id 'belt1' appears twice"),
        (("id: belt2", "id: 'belt 2'"), "cameras[1].id (line 11): Value error, camera id must be"),
        (("direction: +x\n  - id", "direction: +y\n  - id"), "cameras[0] (line 7): Value error, a line at x needs"),
        (("banana: 0.4", "banana: 1.4"), "counting.flag_below (line 4): Value error, threshold for 'banana'"),
        (("skus: {APL-1: apple}", "skus: {APL-1: apple}\n  spoiled_vote: {tomato: 0}"),
         "counting.spoiled_vote (line 6): Value error, spoiled_vote['tomato'] must be within (0, 1], got 0"),
        (("max_batch: 16", "max_batch: 0"), "batcher.max_batch (line 17): Input should be greater than or equal to 1"),
        (("batcher:", "batcher_typo:"), "batcher_typo (line 17): Extra inputs are not permitted"),
    ],
)
def test_bad_settings_are_named_with_their_line(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    text = GOOD_YAML.replace(*edit, 1)
    assert text != GOOD_YAML
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert message in str(exc.value), str(exc.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("cameras: [unclosed", "is not valid YAML"), ("- a\n- b\n", "the top level must be a mapping")],
)
def test_unreadable_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")


def test_a_bad_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QC_BATCHER__QUEUE_LIMT", "5")
    with pytest.raises(ConfigError, match=r"batcher.queue_limt \(from \$QC_BATCHER__QUEUE_LIMT\): Extra inputs are not permitted"):
        load_config(write(tmp_path, GOOD_YAML))


def test_defaults_need_no_file() -> None:
    cfg = ServeConfig()
    assert cfg.cameras == [] and cfg.batcher.queue_limit >= cfg.batcher.max_batch


def test_qc_serve_validate_config(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QC_")}
    good = subprocess.run([sys.executable, "-m", "vision.cli", "serve", "--config", str(write(tmp_path, GOOD_YAML)),
                           "--validate-config"], capture_output=True, text=True, env=env, timeout=120)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["cameras"] == ["belt1", "belt2"]
    bad = subprocess.run([sys.executable, "-m", "vision.cli", "serve", "--config",
                          str(write(tmp_path, GOOD_YAML.replace("max_batch: 16", "max_batch: many"))),
                          "--validate-config"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2
    assert "batcher.max_batch (line 17)" in bad.stderr and bad.stderr.startswith("error:")


def test_the_service_and_qc_inspect_flag_at_the_same_default_threshold() -> None:
    from edge.config import CountingSection
    from edge.tracking.aggregate import FlagPolicy
    from vision.taxonomy import DEFAULT_FLAG_BELOW

    assert CountingSection().threshold("apple") == FlagPolicy().default == DEFAULT_FLAG_BELOW
    assert CountingSection().threshold("apple") > 0.6  # bruised (freshness 0.6) is flagged by default


def test_the_vote_calibration_comes_from_the_model_card_unless_the_config_names_one() -> None:
    """Unset in the config and in `CounterConfig` (what `qc inspect` / `qc count-table` build): the served model's
    card decides; v0003's cards (fp32 and its int8, in the shipped history) carry their measured calibration, and the
    shipped v0004's carries none (its grader's produce marginal has the say instead)."""
    from edge.config import CountingSection
    from edge.tracking.counter import CounterConfig
    from edge.tracking.line import CountingLine
    from vision.model_card import ModelCardDraft
    from vision.registry import CARD_NAME, DEFAULT_INT8_DIR, DEFAULT_MODEL_DIR

    assert CountingSection().spoiled_vote is None
    assert CounterConfig(line=CountingLine.vertical(320)).spoiled_vote is None
    assert CountingSection(spoiled_vote={}).spoiled_vote == {}
    v0003 = DEFAULT_MODEL_DIR / "history" / "v0003"
    assert ModelCardDraft.load(v0003 / CARD_NAME).spoiled_vote == {"tomato": 0.37}
    assert ModelCardDraft.load(v0003 / "int8" / CARD_NAME).spoiled_vote == {"tomato": 0.37}
    shipped = ModelCardDraft.load(DEFAULT_MODEL_DIR / CARD_NAME).spoiled_vote
    assert ModelCardDraft.load(DEFAULT_INT8_DIR / CARD_NAME).spoiled_vote == shipped  # quantizing keeps it


def test_an_int8_version_takes_the_pixels_unless_the_config_says_no(tmp_path: Path) -> None:
    """model.uint8_input unset: an int8 version (the shipped int8 deployment) is served on its uint8-input graph,
    whose quantized input the pixels are; ``uint8_input: false`` keeps the float input."""
    from edge.models.serving import load_model
    from vision.model_card import ModelCardDraft
    from vision.registry import DEFAULT_MODEL_DIR, Registry, grader_file_for

    root = tmp_path / "registry"
    int8 = DEFAULT_MODEL_DIR / "int8"
    draft = ModelCardDraft.load(int8 / "card.json")
    # the int8 keeps its source's grader, which the shipped folder holds once (found by its sha256)
    grader = grader_file_for(int8 / "model.onnx", draft.grader) if draft.grader is not None else None
    version = Registry.open(root).register(int8 / "model.onnx", draft, grader=grader).version
    section = f"model: {{registry_root: '{root}', version: {version}"
    served = load_model(load_config(write(tmp_path, GOOD_YAML + section + "}\n")).model)
    assert served.card.dtype == "int8" and served.detector.uint8_input and served.detector.input_dtype == np.uint8
    kept = load_model(load_config(write(tmp_path, GOOD_YAML + section + ", uint8_input: false}\n")).model)
    assert not kept.detector.uint8_input and kept.detector.input_dtype == np.float32


def test_the_gpu_path_keys_reach_the_served_detector(tmp_path: Path, served_registry: Path) -> None:
    from edge.models.serving import load_model

    text = GOOD_YAML + f"model: {{registry_root: '{served_registry}', uint8_input: true, topk: 50, io_binding: true}}\n"
    model = load_model(load_config(write(tmp_path, text)).model)
    detector = model.detector
    assert (detector.uint8_input, detector.topk, detector.io_binding) == (True, 50, True)
    assert detector.input_dtype == np.uint8
    plain = load_model(load_config(write(tmp_path, GOOD_YAML + f"model: {{registry_root: '{served_registry}'}}\n"))
                       .model).detector
    assert (plain.uint8_input, plain.topk, plain.io_binding) == (False, None, False)  # defaults; off on the CPU
    with pytest.raises(ConfigError, match=r"model.topk \(line 18\): Input should be greater than or equal to 1"):
        load_config(write(tmp_path, GOOD_YAML + "model: {topk: 0}\n"))


def test_settings_naming_produce_kinds_the_model_lacks_stop_start_up(tmp_path: Path, served_registry: Path) -> None:
    """Checked once the served model is known (the config alone cannot know its taxonomy)."""
    from edge.models.serving import load_model
    from edge.service.app import check_against_model

    model_section = f"model: {{registry_root: '{served_registry}'}}\n"
    good = load_config(write(tmp_path, GOOD_YAML + model_section))
    model = load_model(good.model)
    check_against_model(good, model)
    bad_text = GOOD_YAML.replace("skus: {APL-1: apple}", "skus: {APL-1: pear}\n  spoiled_vote: {tomatoe: 0.4}")
    bad = load_config(write(tmp_path, bad_text + model_section))
    with pytest.raises(ConfigError, match=r"do not fit model v\d+ .*: counting.skus.APL-1 = pear; "
                                          r"counting.spoiled_vote.tomatoe"):
        check_against_model(bad, model)
