"""`qc bench --attack`: the real command against a real `qc serve` under both starvation attacks, briefly; and the
report's arithmetic on built values. What is asserted is deterministic: the report's structure, how each attack
was answered (status codes), the frames sent, the bars that judge those; never a latency, nor a bar that judges
one: that is what the bench measures."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from edge.tools.bench.attack_bench import attack_kinds
from edge.tools.bench.attack_report import (
    KEPT_SHARE_BAR,
    USUAL_LATENCY_FACTOR,
    AttackPhase,
    AttackResult,
    CameraRun,
    HealthPolls,
)
from edge.tools.bench.attackers import AttackAnswers, multipart_bomb
from edge.tools.bench.options import BenchOptions, ServiceLoad
from vision.errors import InputError

pytestmark = pytest.mark.slow  # a service under a sign-in and multipart flood

PHASE_KEYS = {"camera", "healthz"}
ATTACK_KEYS = PHASE_KEYS | {"vs_no_attack", "attack", "bars"}


def test_both_attacks_are_measured_side_by_side_and_answered_as_hardened(tmp_path: Path) -> None:
    saved = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "vision.cli", "bench", "--attack", "both", "--attack-clients", "4", "--seconds", "2",
         "--frames", "8", "--batch", "4", "--save", str(saved)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(saved.read_text())
    assert report["by_batch"] == [] and report["service"] is None  # only the service, under the attacks
    attack = report["attack"]
    assert (attack["fps"], attack["seconds_per_phase"]) == (15.0, 2.0)
    assert set(attack["no_attack"]) == PHASE_KEYS
    assert set(attack["signin"]) == set(attack["multipart"]) == ATTACK_KEYS
    assert isinstance(attack["pass"], bool)
    assert attack["usual_latency_ms"] > 0  # the service acked frames ok without an attack

    for phase in ("no_attack", "signin", "multipart"):
        camera, health = attack[phase]["camera"], attack[phase]["healthz"]
        assert camera["frames_sent"] == 30  # 2 s x 15 fps
        assert camera["unanswered"] == camera["frames_sent"] - sum(camera["by_status"].values())
        assert camera["frames_ok"] == camera["by_status"].get("ok", 0)
        assert health["polls"] > 0
    for phase in ("signin", "multipart"):
        assert set(attack[phase]["vs_no_attack"]) == {"ok_share", "latency_p50", "latency_p95"}
        assert all(isinstance(bar["pass"], bool) for bar in attack[phase]["bars"])

    signin = attack["signin"]["attack"]
    statuses = signin["by_status"]
    # Every client made at least one attempt; a wrong password is 401 until the user's lockout, then 429 (or 429 at
    # once while the hashing thread's line is full), each 429 with Retry-After; nothing else.
    assert signin["clients"] == 4 and signin["answers"] == sum(statuses.values()) >= 4
    assert set(statuses) <= {"401", "429"} and statuses.get("429", 0) > 0, statuses
    assert signin["with_retry_after"] == statuses["429"]
    assert statuses.get("401", 0) <= 20, statuses  # at most the address's allowance of wrong guesses was hashed
    assert [b["name"] for b in attack["signin"]["bars"]] == ["camera kept (acked ok within its usual latency)",
                                                            "answered 429 with Retry-After"]
    assert attack["signin"]["bars"][1]["pass"] is True

    bomb = attack["multipart"]["attack"]
    assert 7_700_000 < bomb["body_bytes"] < 8 * 1024 * 1024  # under the message limit: refused for its parts
    assert bomb["answers"] >= 4
    assert bomb["by_status"] == {"400": bomb["answers"]} and bomb["codes"] == {"bad_multipart": bomb["answers"]}
    assert [b["name"] for b in attack["multipart"]["bars"]][1] == "refused 4xx"
    assert attack["multipart"]["bars"][1]["pass"] is True

    # The table on stdout shows the phases side by side and each bar's verdict.
    for text in ("no attack", "sign-in flood", "multipart flood", "bar: answered 429 with Retry-After",
                 "bar: refused 4xx", "bar: /healthz max"):
        assert text in done.stdout, text
    assert done.stdout.count("PASS") + done.stdout.count("FAIL") == len(attack["signin"]["bars"]) + len(
        attack["multipart"]["bars"])


def _camera(sent: int, oks_ms: list[float], others: int = 0) -> CameraRun:
    acks = {i: ("ok", ms / 1000) for i, ms in enumerate(oks_ms)}
    acks.update({len(oks_ms) + i: ("retry", 0.01) for i in range(others)})
    return CameraRun(fps=15.0, seconds=sent / 15.0, sent=sent, acks=acks)


def _health(*ms: float) -> HealthPolls:
    return HealthPolls(latencies_s=[m / 1000 for m in ms], by_status=Counter({"200": len(ms)}))


def test_kept_ratios_and_bars_from_built_phases() -> None:
    baseline = AttackPhase("baseline", _camera(100, [40.0] * 99 + [60.0]), _health(2, 3))
    signin = AttackPhase(
        "signin", _camera(100, [50.0] * 90 + [95.0] * 4, others=3), _health(2, 50),
        AttackAnswers("signin", 16, Counter({"429": 30, "401": 6}), with_retry_after=30, answer_s=[0.001] * 36))
    bomb = AttackAnswers("multipart", 2, Counter({"400": 3, "413": 1}), codes=Counter({"bad_multipart": 3}),
                         answer_s=[0.2, 0.3, 0.4, 2.0], body_bytes=7_750_000)
    multipart = AttackPhase("multipart", _camera(100, [40.0] * 100), _health(5, 120), bomb)
    result = AttackResult("bench0", 15.0, 100 / 15.0, baseline, [signin, multipart])

    p99 = 40.0 + 0.01 * 20.0  # 1 % of the way from the 99th ordered value (40) to the 100th (60)
    assert result.usual_within_ms == pytest.approx(USUAL_LATENCY_FACTOR * p99)  # 60.3 ms
    assert signin.camera.ok_share == pytest.approx(0.94)
    assert signin.camera.kept_share(result.usual_within_ms) == pytest.approx(0.90)  # the 95 ms acks are too late
    assert result.ratios(signin)["latency_p50"] == pytest.approx(50.0 / 40.0)
    assert result.ratios(signin)["ok_share"] == pytest.approx(0.94)

    signin_bars = {b.name: b for b in result.bars(signin)}
    assert not signin_bars["camera kept (acked ok within its usual latency)"].passed  # 90 % < 95 %
    assert signin_bars["answered 429 with Retry-After"].passed
    bars = {b.name: b for b in result.bars(multipart)}
    assert bars["camera kept (acked ok within its usual latency)"].passed
    assert bars["refused 4xx"].passed and bars["refused 4xx"].value == "4 of 4"
    assert bars["refused in (median, upload included)"].passed  # median 350 ms
    assert not bars["/healthz max"].passed  # one poll took 120 ms
    assert result.passed is False
    assert result.to_json()["multipart"]["attack"]["answer_p50_ms"] == pytest.approx(350.0)
    assert KEPT_SHARE_BAR == 0.95


def test_a_429_without_retry_after_fails_its_bar() -> None:
    baseline = AttackPhase("baseline", _camera(10, [40.0] * 10), _health(2))
    answers = AttackAnswers("signin", 16, Counter({"429": 5}), with_retry_after=4)
    result = AttackResult("bench0", 15.0, 1.0, baseline, [AttackPhase("signin", _camera(10, [40.0] * 10),
                                                                      _health(2), answers)])
    (kept, throttled) = result.bars(result.attacks[0])
    assert kept.passed and not throttled.passed and throttled.value == "4 of 5"


def test_the_bomb_is_parts_then_one_file_part() -> None:
    body = multipart_bomb(b"JPEG", parts=3)
    assert body.count(b"--b\r\n") == 4 and body.endswith(b"JPEG\r\n--b--\r\n")
    assert len(multipart_bomb(b"", parts=151_640)) > 7_700_000


def test_attack_answers_survive_their_json_line() -> None:
    answers = AttackAnswers("multipart", 3, Counter({"400": 2, "ReadTimeout": 1}), codes=Counter({"bad_multipart": 2}),
                            answer_s=[0.1, 0.2, 30.0], body_bytes=123)
    back = AttackAnswers.from_json(json.loads(json.dumps(answers.to_json())))
    assert back == answers and back.answers == 3


@pytest.mark.parametrize(("value", "kinds"), [("signin", ("signin",)), ("multipart", ("multipart",)),
                                              ("both", ("signin", "multipart")), ("dos", None)])
def test_attack_kinds(value: str, kinds: tuple[str, ...] | None) -> None:
    if kinds is None:
        with pytest.raises(InputError, match="--attack must be one of signin, multipart, both"):
            attack_kinds(value)
    else:
        assert attack_kinds(value) == kinds


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"attack": ("dos",)}, "attack.0: input should be 'signin' or 'multipart', got 'dos'"),
        ({"attack": ("signin",), "soak_s": 5}, "--attack and --soak exclude each other"),
        ({"attack": ("signin",), "attack_clients": 0}, "attack_clients: input should be greater than or equal to 1"),
        ({"attack": ("signin",), "attack_clients": 257}, "attack_clients: input should be less than or equal to 256"),
        ({"attack": ("signin", "multipart")}, None),
    ],
)
def test_attack_options_are_checked_when_made(settings: dict[str, object], message: str | None) -> None:
    if message is None:
        assert BenchOptions(service=ServiceLoad(**settings)).service_only  # type: ignore[arg-type]
        return
    with pytest.raises(InputError, match=re.escape(message)):
        ServiceLoad(**settings)  # type: ignore[arg-type]
