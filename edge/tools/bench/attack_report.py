"""The figures of `qc bench --attack`: one camera's frames without an attack and during each attack, side by side
(ratios, not wall-clock claims), `/healthz` while it runs, how the attack was answered, and the requirement's bars.

A frame is *kept* when it is acked ``ok`` within the camera's usual latency: `USUAL_LATENCY_FACTOR` times the p99
of its acks in the phase without an attack, measured in the same run on the same service.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from edge.tools.bench.attackers import AttackAnswers
from edge.tools.bench.stats import percentile

KEPT_SHARE_BAR = 0.95  # under an attack a camera keeps at least this share of its frames
USUAL_LATENCY_FACTOR = 1.5  # "its usual latency": up to this multiple of its own p99 without an attack
HEALTHZ_MAX_BAR_MS = 100.0  # /healthz answers within this during the multipart flood
REFUSED_WITHIN_MS = 1000.0  # "refused fast": the median answer to a 7.8 MB bomb, its upload included
ATTACK_LABELS = {"baseline": "no attack", "signin": "sign-in flood", "multipart": "multipart flood"}


@dataclass
class CameraRun:
    """One camera streaming at a fixed rate without resending: each frame's first answer and its latency."""

    fps: float
    seconds: float
    sent: int = 0
    acks: dict[int, tuple[str, float]] = field(default_factory=dict)  # seq -> (status, seconds capture -> ack)

    @property
    def by_status(self) -> dict[str, int]:
        """Answers per ack status."""
        return dict(Counter(status for status, _ in self.acks.values()))

    @property
    def ok_ms(self) -> list[float]:
        """Latencies of the frames acked ``ok``, in ms."""
        return [1000 * lag for status, lag in self.acks.values() if status == "ok"]

    @property
    def ok_share(self) -> float:
        """Share of the frames sent that were acked ``ok`` (however late)."""
        return len(self.ok_ms) / self.sent if self.sent else 0.0

    def kept_share(self, within_ms: float | None) -> float | None:
        """Share of the frames sent that were acked ``ok`` within ``within_ms`` (None: no bound to judge by)."""
        if within_ms is None or not self.sent:
            return None
        return sum(1 for ms in self.ok_ms if ms <= within_ms) / self.sent

    def to_json(self, within_ms: float | None) -> dict[str, Any]:
        """The camera's figures as a JSON object."""
        ms = self.ok_ms
        return {"frames_sent": self.sent, "frames_ok": len(ms), "ok_share": self.ok_share,
                "kept_share": self.kept_share(within_ms), "by_status": self.by_status,
                "unanswered": self.sent - len(self.acks), "latency_p50_ms": percentile(ms, 50),
                "latency_p95_ms": percentile(ms, 95), "latency_p99_ms": percentile(ms, 99),
                "latency_max_ms": max(ms) if ms else None}


@dataclass
class HealthPolls:
    """`/healthz` polled while the camera streamed: each answer's time and the statuses."""

    latencies_s: list[float] = field(default_factory=list)
    by_status: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """Polls, median and max answer time (ms), statuses."""
        ms = [1000 * s for s in self.latencies_s]
        return {"polls": len(ms), "p50_ms": percentile(ms, 50), "max_ms": max(ms) if ms else None,
                "by_status": dict(self.by_status)}


@dataclass
class AttackPhase:
    """One phase of the run: the camera and `/healthz`, with ``answers`` of the attack running (None: no attack)."""

    name: str  # "baseline", "signin" or "multipart"
    camera: CameraRun
    health: HealthPolls
    answers: AttackAnswers | None = None


@dataclass(frozen=True)
class Bar:
    """One bar of the requirement, judged."""

    name: str
    value: str
    target: str
    passed: bool

    def to_json(self) -> dict[str, Any]:
        """As a JSON object."""
        return {"name": self.name, "value": self.value, "target": self.target, "pass": self.passed}

    def line(self) -> str:
        """``name value (target ...) PASS|FAIL``."""
        return f"{self.name} {self.value} (target {self.target}) {'PASS' if self.passed else 'FAIL'}"


def is_4xx(status: str) -> bool:
    """Whether an answer key (an HTTP status, or a client-side error's name) is a 4xx status."""
    return status.isdigit() and 400 <= int(status) < 500


@dataclass
class AttackResult:
    """Everything `qc bench --attack` measured: the phase without an attack, then one phase per attack."""

    camera_id: str
    fps: float
    seconds: float
    baseline: AttackPhase
    attacks: list[AttackPhase] = field(default_factory=list)

    @property
    def usual_within_ms(self) -> float | None:
        """The camera's usual latency: `USUAL_LATENCY_FACTOR` x its p99 without an attack."""
        p99 = percentile(self.baseline.camera.ok_ms, 99)
        return None if p99 is None else USUAL_LATENCY_FACTOR * p99

    def ratios(self, phase: AttackPhase) -> dict[str, float | None]:
        """The camera during ``phase`` over the camera without an attack: ok share, median and p95 latency."""
        base, now = self.baseline.camera, phase.camera
        out: dict[str, float | None] = {"ok_share": now.ok_share / base.ok_share if base.ok_share else None}
        for q in (50, 95):
            b, n = percentile(base.ok_ms, q), percentile(now.ok_ms, q)
            out[f"latency_p{q}"] = n / b if b and n is not None else None
        return out

    def bars(self, phase: AttackPhase) -> list[Bar]:
        """The requirement's bars for an attack phase."""
        kept = phase.camera.kept_share(self.usual_within_ms)
        bars = [Bar("camera kept (acked ok within its usual latency)", _pct(kept), f">= {_pct(KEPT_SHARE_BAR)}",
                    kept is not None and kept >= KEPT_SHARE_BAR)]
        answers = phase.answers
        if answers is None:
            return bars
        if phase.name == "signin":
            throttled = answers.by_status.get("429", 0)
            bars.append(Bar("answered 429 with Retry-After", f"{answers.with_retry_after} of {throttled}",
                            "> 0, all with Retry-After", throttled > 0 and answers.with_retry_after == throttled))
        else:
            refused = sum(n for status, n in answers.by_status.items() if is_4xx(status))
            median = percentile([1000 * s for s in answers.answer_s], 50)
            bars += [
                Bar("refused 4xx", f"{refused} of {answers.answers}", "all", refused == answers.answers > 0),
                Bar("refused in (median, upload included)", _ms(median), f"<= {REFUSED_WITHIN_MS:.0f} ms",
                    median is not None and median <= REFUSED_WITHIN_MS),
            ]
            max_ms = phase.health.to_json()["max_ms"]
            bars.append(Bar("/healthz max", _ms(max_ms), f"< {HEALTHZ_MAX_BAR_MS:.0f} ms",
                            max_ms is not None and max_ms < HEALTHZ_MAX_BAR_MS
                            and set(phase.health.by_status) == {"200"}))
        return bars

    @property
    def passed(self) -> bool:
        """Whether every bar of every attack phase passed."""
        return all(bar.passed for phase in self.attacks for bar in self.bars(phase))

    def _phase_json(self, phase: AttackPhase) -> dict[str, Any]:
        out: dict[str, Any] = {"camera": phase.camera.to_json(self.usual_within_ms), "healthz": phase.health.to_json()}
        if phase.answers is not None:
            answers = phase.answers
            ms = [1000 * s for s in answers.answer_s]
            out["vs_no_attack"] = self.ratios(phase)
            out["attack"] = {"clients": answers.clients, "answers": answers.answers,
                             "by_status": dict(answers.by_status), "with_retry_after": answers.with_retry_after,
                             "codes": dict(answers.codes), "answer_p50_ms": percentile(ms, 50),
                             "answer_max_ms": max(ms) if ms else None, "body_bytes": answers.body_bytes}
            out["bars"] = [bar.to_json() for bar in self.bars(phase)]
        return out

    def to_json(self) -> dict[str, Any]:
        """The run as one JSON object: ``no_attack`` and one key per attack, and ``pass`` over all bars."""
        return {"camera": self.camera_id, "fps": self.fps, "seconds_per_phase": self.seconds,
                "usual_latency_ms": self.usual_within_ms, "usual_latency_factor": USUAL_LATENCY_FACTOR,
                "no_attack": self._phase_json(self.baseline),
                **{phase.name: self._phase_json(phase) for phase in self.attacks},
                "pass": self.passed}

    def lines(self) -> list[str]:
        """The table a person reads."""
        head = (f"  {'phase':<16} {'frames ok':>11} {'ok share':>9} {'kept':>7} {'p50 ms':>7} {'p95 ms':>7} "
                f"{'p50 x':>6} {'p95 x':>6} {'healthz p50/max ms':>19}")
        out = [f"attack: camera {self.camera_id} at {self.fps:g} fps over WebSocket (never resends), "
               f"{self.seconds:g} s per phase; kept = acked ok within {USUAL_LATENCY_FACTOR:g} x its p99 without an "
               f"attack = {_ms(self.usual_within_ms)}", head, "  " + "-" * (len(head) - 2)]
        for phase in (self.baseline, *self.attacks):
            cam, health = phase.camera.to_json(self.usual_within_ms), phase.health.to_json()
            ratios = self.ratios(phase) if phase.answers is not None else {}
            out.append(f"  {ATTACK_LABELS[phase.name]:<16} {cam['frames_ok']:>5} / {cam['frames_sent']:<3} "
                       f"{_pct(cam['ok_share']):>9} {_pct(cam['kept_share']):>7} {_num(cam['latency_p50_ms']):>7} "
                       f"{_num(cam['latency_p95_ms']):>7} {_num(ratios.get('latency_p50'), 2):>6} "
                       f"{_num(ratios.get('latency_p95'), 2):>6} "
                       f"{_num(health['p50_ms'], 1) + ' / ' + _num(health['max_ms'], 1):>19}")
        for phase in self.attacks:
            answers = phase.answers
            if answers is None:
                continue
            ms = [1000 * s for s in answers.answer_s]
            clients = f"{answers.clients} client{'s' if answers.clients != 1 else ''}"
            what = (f"{clients} posting wrong passwords" if phase.name == "signin" else
                    f"{clients} posting {answers.body_bytes or 0:,} bytes of multipart")
            out.append(f"  {ATTACK_LABELS[phase.name]} ({what}): {answers.answers} answers {dict(answers.by_status)}"
                       + (f", {answers.with_retry_after} with Retry-After" if phase.name == "signin" else
                          f", codes {dict(answers.codes)}")
                       + f"; answered in p50 {_ms(percentile(ms, 50))}, max {_ms(max(ms) if ms else None)}")
            for bar in self.bars(phase):
                out.append(f"    bar: {bar.line()}")
        return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
