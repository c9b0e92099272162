"""Each monitoring rule on observation sequences: it fires when it should (naming camera, model version and the
numbers) and stays quiet when it should not (normal traffic, too little data, a camera that stopped)."""

from __future__ import annotations

import pytest
from observations import frames, settings

from edge.monitoring import Alert, FrameObservation, Monitor, ReviewWindow, diff_alerts


def fired(alerts: list[Alert], rule: str, camera: str = "cam1") -> Alert | None:
    return next((a for a in alerts if a.rule == rule and a.camera_id == camera), None)


def feed(monitor: Monitor, observations: object) -> None:
    for obs in observations:  # type: ignore[attr-defined]
        monitor.observe_frame(obs)


# --- no detections -------------------------------------------------------------------------------------------------


def test_no_detections_fires_for_a_streaming_camera_whose_model_finds_nothing() -> None:
    m = Monitor(settings(no_detections_s=60))
    feed(m, frames("cam1", 1000, 30, detections=3))
    feed(m, frames("cam1", 1030, 70, detections=0, version="v0002"))
    alert = fired(m.check(1100), "no_detections")
    assert alert is not None
    assert alert.model_version == "v0002"
    assert alert.values["seconds_without_detections"] == pytest.approx(70, abs=0.2)
    assert alert.values["frames_without_detections"] == 700
    assert "v0002" in alert.message and "cam1" in alert.message


def test_no_detections_stays_quiet_below_the_window_and_while_detections_keep_coming() -> None:
    m = Monitor(settings(no_detections_s=60))
    feed(m, frames("cam1", 1000, 50, detections=0))  # 50 s of silence < 60 s
    assert fired(m.check(1050), "no_detections") is None
    m2 = Monitor(settings(no_detections_s=60))
    for k in range(10):  # a detection every 20 s: never 60 s of silence
        feed(m2, frames("cam1", 1000 + 20 * k, 19.9, detections=0))
        feed(m2, frames("cam1", 1000 + 20 * k + 19.9, 0.1, detections=1))
    assert fired(m2.check(1200), "no_detections") is None


def test_no_detections_needs_frames_flowing_and_enough_of_them() -> None:
    s = settings(no_detections_s=60, flowing_s=30, no_detections_min_frames=10)
    m = Monitor(s)
    feed(m, frames("cam1", 1000, 100, detections=0))
    assert fired(m.check(1100), "no_detections") is not None
    assert fired(m.check(1100 + 31), "no_detections") is None  # the camera stopped sending: nothing to judge
    trickle = Monitor(s)
    feed(trickle, frames("cam1", 1000, 100, fps=0.05, detections=0))  # 5 frames in 100 s
    assert fired(trickle.check(1100), "no_detections") is None


def test_a_new_model_version_gets_its_own_silence_window() -> None:
    m = Monitor(settings(no_detections_s=60))
    feed(m, frames("cam1", 1000, 50, detections=0, version="v0001"))
    feed(m, frames("cam1", 1050, 20, detections=0, version="v0002"))
    assert fired(m.check(1070), "no_detections") is None  # v0002 has been silent 20 s only
    feed(m, frames("cam1", 1070, 45, detections=0, version="v0002"))
    alert = fired(m.check(1115), "no_detections")
    assert alert is not None and alert.model_version == "v0002"


# --- flag rate and class mix ---------------------------------------------------------------------------------------

DRIFT = {"bucket_s": 60, "recent_s": 600, "trailing_s": 1800, "min_items": 50, "flag_rate_delta": 0.15}


def test_flag_rate_drift_fires_when_the_recent_rate_leaves_the_trailing_one() -> None:
    m = Monitor(settings(**DRIFT))
    # trailing 30 min: 1 item per second, 1 in 20 flagged (5 %); recent 10 min: 40 % flagged
    for k in range(1800):
        m.observe_frame(FrameObservation("cam1", "v0003", 10_000 + k, 2, n_flagged=int(k % 20 == 0), n_counted=1))
    for k in range(600):
        m.observe_frame(FrameObservation("cam1", "v0003", 11_800 + k, 2, n_flagged=int(k % 5 < 2), n_counted=1))
    alert = fired(m.check(12_400), "flag_rate_drift")
    assert alert is not None and alert.model_version == "v0003"
    assert alert.values["recent_flag_rate"] == pytest.approx(0.4, abs=0.02)
    assert alert.values["trailing_flag_rate"] == pytest.approx(0.05, abs=0.01)
    assert alert.values["recent_items"] >= 540


def test_flag_rate_stays_quiet_for_a_steady_rate_and_for_few_items() -> None:
    steady = Monitor(settings(**DRIFT))
    for k in range(2400):
        steady.observe_frame(FrameObservation("cam1", "v1", 10_000 + k, 2, n_flagged=int(k % 10 == 0), n_counted=1))
    assert fired(steady.check(12_400), "flag_rate_drift") is None
    few = Monitor(settings(**DRIFT))  # 100 % vs 0 %, but only 20 recent items: noise
    for k in range(1800):
        few.observe_frame(FrameObservation("cam1", "v1", 10_000 + k, 2, n_flagged=0, n_counted=1))
    for k in range(20):
        few.observe_frame(FrameObservation("cam1", "v1", 11_900 + k, 2, n_flagged=1, n_counted=1))
    assert fired(few.check(12_400), "flag_rate_drift") is None


def test_class_mix_drift_fires_on_a_changed_mix_and_names_the_class() -> None:
    m = Monitor(settings(**DRIFT, min_detections=300, class_mix_tvd=0.3))
    mix = {"apple_fresh": 6, "banana_fresh": 3, "tomato_rotten": 1}
    feed(m, frames("cam1", 10_000, 1800, fps=1, detections=10, classes=mix))
    feed(m, frames("cam1", 11_800, 600, fps=1, detections=10, classes={"apple_fresh": 1, "banana_fresh": 9}))
    alert = fired(m.check(12_400), "class_mix_drift")
    assert alert is not None
    assert alert.values["total_variation"] == pytest.approx(0.6, abs=0.01)
    assert "banana_fresh" in alert.message  # 30 % -> 90 %: the class that moved most


def test_class_mix_stays_quiet_for_the_same_mix_and_for_few_detections() -> None:
    m = Monitor(settings(**DRIFT, min_detections=300))
    feed(m, frames("cam1", 10_000, 1800, fps=1, detections=10, classes={"apple_fresh": 6, "banana_fresh": 4}))
    feed(m, frames("cam1", 11_800, 600, fps=1, detections=10, classes={"apple_fresh": 5, "banana_fresh": 5}))
    assert fired(m.check(12_400), "class_mix_drift") is None  # TVD 0.1
    few = Monitor(settings(**DRIFT, min_detections=300))
    feed(few, frames("cam1", 10_000, 1800, fps=1, detections=10, classes={"apple_fresh": 10}))
    feed(few, frames("cam1", 12_300, 20, fps=1, detections=10, classes={"banana_fresh": 10}))  # 200 detections
    assert fired(few.check(12_400), "class_mix_drift") is None


def test_drift_memory_is_bounded_by_the_windows() -> None:
    m = Monitor(settings(**DRIFT))
    feed(m, frames("cam1", 0, 6 * 3600, fps=2, detections=1))  # six hours at 2 fps
    buckets = m._cameras["cam1"].drift.buckets
    assert len(buckets) <= (600 + 1800) // 60 + 2


# --- review precision ----------------------------------------------------------------------------------------------


def test_review_precision_fires_below_the_threshold_with_enough_reviews() -> None:
    m = Monitor(settings(min_reviews=20, min_precision=0.6))
    m.observe_reviews([ReviewWindow("cam1", ("v0004",), confirmed=10, rejected=30),
                       ReviewWindow("cam2", ("v0004",), confirmed=35, rejected=5),
                       ReviewWindow("cam3", ("v0004",), confirmed=2, rejected=10)])  # 12 decided: too few
    alerts = m.check(5000)
    alert = fired(alerts, "review_precision")
    assert alert is not None and alert.model_version == "v0004"
    assert alert.values["precision"] == pytest.approx(0.25)
    assert "25%" in alert.message
    assert fired(alerts, "review_precision", "cam2") is None
    assert fired(alerts, "review_precision", "cam3") is None


# --- shadow disagreement -------------------------------------------------------------------------------------------


def test_shadow_disagreement_fires_for_a_disagreeing_shadow_and_names_both_versions() -> None:
    m = Monitor(settings(shadow_min_frames=50, shadow_max_disagreement=0.2))
    for k in range(100):
        m.observe_shadow("cam1", "v0005", "v0006", 0.6, at=2000 + k)
        m.observe_shadow("cam2", "v0005", "v0006", 0.95, at=2000 + k)
    alerts = m.check(2100)
    alert = fired(alerts, "shadow_disagreement")
    assert alert is not None and alert.model_version == "v0006"
    assert alert.values["disagreement"] == pytest.approx(0.4)
    assert "v0005" in alert.message
    assert fired(alerts, "shadow_disagreement", "cam2") is None


def test_shadow_needs_enough_frames_restarts_for_a_new_shadow_and_ends_when_it_stops() -> None:
    s = settings(shadow_min_frames=50, shadow_max_disagreement=0.2, recent_s=300, shadow_window=80)
    m = Monitor(s)
    for k in range(40):
        m.observe_shadow("cam1", "v1", "v2", 0.0, at=2000 + k)
    assert fired(m.check(2040), "shadow_disagreement") is None  # 40 < 50 frames
    for k in range(200):
        m.observe_shadow("cam1", "v1", "v2", 0.0, at=2040 + k)
    assert len(m._shadow["cam1"].agreements) == 80  # bounded
    assert fired(m.check(2240), "shadow_disagreement") is not None
    assert fired(m.check(2240 + 301), "shadow_disagreement") is None  # the shadow stopped scoring
    for k in range(40):  # a new shadow version: v2's disagreement is not held against it
        m.observe_shadow("cam1", "v1", "v3", 1.0, at=2600 + k)
    assert fired(m.check(2640), "shadow_disagreement") is None


# --- colour and exposure -------------------------------------------------------------------------------------------

COLOUR = {"colour_baseline_s": 60, "colour_window_s": 10, "colour_min_frames": 10, "brightness_delta": 0.25,
          "white_balance_delta": 0.15}


def test_a_belt_going_blue_and_dark_fires_exposure_and_colour_drift() -> None:
    m = Monitor(settings(**COLOUR))
    feed(m, frames("cam1", 1000, 120, fps=5, belt=(90.0, 92.0, 95.0), version="v0007"))
    assert m.check(1120) == []
    feed(m, frames("cam1", 1120, 60, fps=5, belt=(110.0, 45.0, 30.0), version="v0007"))
    alerts = m.check(1180)
    exposure, colour = fired(alerts, "exposure_drift"), fired(alerts, "colour_drift")
    assert exposure is not None and colour is not None
    assert exposure.model_version == colour.model_version == "v0007"
    assert exposure.values["change"] < -0.25
    assert exposure.values["baseline_brightness"] == pytest.approx(92.3, abs=0.5)
    assert colour.values["b_over_g"] > 2 * colour.values["baseline_b_over_g"]


def test_colour_stays_quiet_for_small_wobbles_and_before_a_baseline() -> None:
    m = Monitor(settings(**COLOUR))
    feed(m, frames("cam1", 1000, 120, fps=5, belt=(90.0, 92.0, 95.0)))
    feed(m, frames("cam1", 1120, 60, fps=5, belt=(95.0, 94.0, 92.0)))  # a few percent: lighting noise
    assert m.check(1180) == []
    young = Monitor(settings(**COLOUR))  # 30 s of grey, then blue: no baseline yet, nothing to compare with
    feed(young, frames("cam1", 1000, 30, fps=5, belt=(90.0, 92.0, 95.0)))
    feed(young, frames("cam1", 1030, 20, fps=5, belt=(150.0, 40.0, 20.0)))
    assert young.check(1050) == []


def test_the_colour_baseline_is_kept_not_dragged_along() -> None:
    m = Monitor(settings(**COLOUR))
    feed(m, frames("cam1", 1000, 60, fps=5, belt=(90.0, 92.0, 95.0)))
    feed(m, frames("cam1", 1060, 3600, fps=1, belt=(60.0, 60.0, 60.0)))  # an hour darker
    assert fired(m.check(4660), "exposure_drift") is not None


# --- alerts over time ----------------------------------------------------------------------------------------------


def test_an_alert_keeps_its_since_while_it_fires_and_diff_reports_raised_and_cleared() -> None:
    m = Monitor(settings(no_detections_s=10, flowing_s=5))
    feed(m, frames("cam1", 1000, 20, detections=0))
    first = m.check(1019)
    feed(m, frames("cam1", 1020, 5, detections=0))
    second = m.check(1024.5)
    assert [a.since for a in first] == [1019] and [a.since for a in second] == [1019]
    raised, cleared = diff_alerts([], first)
    assert [a.rule for a in raised] == ["no_detections"] and cleared == []
    third = m.check(1040)  # the camera stopped 15 s ago
    assert third == []
    assert diff_alerts(second, third) == ([], second)
    assert m.alerts == [] and m.checked_at == 1040


def test_alert_json_shape() -> None:
    alert = Alert("no_detections", "cam1", "v0002", "msg", {"seconds_without_detections": 1.5}, since=1_800_000_000)
    assert alert.to_dict() == {
        "rule": "no_detections", "camera_id": "cam1", "model_version": "v0002", "message": "msg",
        "values": {"seconds_without_detections": 1.5}, "since": "2027-01-15T08:00:00Z",
    }
