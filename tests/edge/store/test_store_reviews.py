"""Reviews: the queue (order, filters, pages), decisions with their audit rows, undo (also of a bulk confirm, never
over someone else's later decision), whole frames, users. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import pytest
from store_backends import BACKENDS, empty_database
from store_builders import T0, commit_args, make_item
from store_tx import read, write

from edge.store import FrameDetection, NotFoundError, ReviewConflictError, Store, StoreValueError
from edge.store.frame_images import flag_frame, get_frame_image
from edge.store.review_queue import count_queue, get_entry, query_queue
from edge.store.review_repo import apply_review, bulk_confirm, list_reviews, undo_last
from edge.store.sessions import change_password
from edge.store.users import create_user, get_user, hash_password, list_users, verify_password
from vision.detections import Detections
from vision.taxonomy import Taxonomy

FRAME_JPEG = b"\xff\xd8\xff\xe0" + b"frame" * 100 + b"\xff\xd9"


@pytest.fixture(scope="module", params=BACKENDS)
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per backend for the refusal tables: every case writes nothing (which they check), so they can share
    it and skip a migration per case."""
    with empty_database(request.param, tmp_path_factory.mktemp("shared")) as url, Store.open(url) as store:
        _flagged(store, [("cam1", "apple")])
        yield store


def _flagged(store: Store, specs: list[tuple[str, str]]) -> list[int]:
    """Commit one flagged item per (camera, produce), in order (later = counted later); returns their flag ids."""
    seqs: dict[str, int] = {}
    for n, (camera, produce) in enumerate(specs):
        seqs[camera] = seqs.get(camera, 0) + 10
        seq = seqs[camera]
        item = make_item(camera, track_id=n + 1, seq=seq, flagged=True, produce=produce, condition="rotten")
        assert store.commit_frame(**commit_args(camera, seq, items=[item], captured_at=T0 + n))
    entries = read(store, query_queue, status="all", limit=500)
    return [e.flag_id for e in sorted(entries, key=lambda e: e.counted_at)]


def test_queue_is_oldest_first_filtered_and_paged(store: Store) -> None:
    ids = _flagged(store, [("cam1", "apple"), ("cam2", "banana"), ("cam1", "banana"), ("cam1", "apple")])
    assert [e.flag_id for e in read(store, query_queue)] == ids
    assert [e.flag_id for e in read(store, query_queue, camera="cam1")] == [ids[0], ids[2], ids[3]]
    assert [e.flag_id for e in read(store, query_queue, produce="banana")] == [ids[1], ids[2]]
    assert [e.flag_id for e in read(store, query_queue, offset=1, limit=2)] == ids[1:3]
    assert read(store, count_queue, camera="cam1") == 3
    day = datetime.fromtimestamp(T0, timezone.utc).date()
    assert len(read(store, query_queue, day=day)) == 4 and read(store, query_queue, day=date(2001, 1, 1)) == []

    write(store, apply_review, ids[0], "confirm_waste", "ann")
    write(store, apply_review, ids[3], "relabel", "ann", produce="banana")  # relabel alone does not decide
    assert [e.flag_id for e in read(store, query_queue)] == ids[1:]
    assert [e.flag_id for e in read(store, query_queue, status="reviewed")] == [ids[0]]
    assert [e.flag_id for e in read(store, query_queue, produce="banana")] == ids[1:]  # the current produce counts
    entry = read(store, get_entry, ids[3])
    assert (entry.produce, entry.detected_produce, entry.status) == ("banana", "apple", "pending")
    assert entry.reviewed_by == "ann"
    assert entry.has_crop and not entry.has_frame and entry.model_version == "v1"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"status": "open"}, "queue status must be one of"),
        ({"limit": 0}, "queue limit"),
        ({"limit": 501}, "queue limit"),
        ({"offset": -1}, "queue offset"),
        ({"day": "2025-11-26"}, "must be a datetime.date"),
    ],
)
def test_queue_refuses_bad_arguments(shared_store: Store, kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(StoreValueError, match=error):
        read(shared_store, query_queue, **kwargs)


def test_each_action_updates_the_flag_and_writes_one_audit_row(store: Store) -> None:
    (a, b, c) = _flagged(store, [("cam1", "apple"), ("cam1", "apple"), ("cam1", "apple")])
    r1 = write(store, apply_review, a, "confirm_waste", "ann")
    r2 = write(store, apply_review, b, "not_waste", "bob")
    r3 = write(store, apply_review, c, "relabel", "ann", produce="banana", condition="bruised")
    r4 = write(store, apply_review, c, "fix_box", "ann", box=(1, 2, 30, 40))
    assert [(r.action, r.status, r.reviewer) for r in (r1, r2, r3, r4)] == [
        ("confirm_waste", "confirmed", "ann"), ("not_waste", "rejected", "bob"),
        ("relabel", "pending", "ann"), ("fix_box", "pending", "ann"),
    ]
    assert (r3.produce, r3.condition, r4.box) == ("banana", "bruised", (1.0, 2.0, 30.0, 40.0))
    assert all(r.at.tzinfo is not None and r.undoes is None for r in (r1, r2, r3, r4))
    assert [f.status for f in store.flags()] == ["confirmed", "rejected", "pending"]
    entry = read(store, get_entry, c)
    assert (entry.produce, entry.condition, entry.box) == ("banana", "bruised", (1.0, 2.0, 30.0, 40.0))
    assert entry.detected_box == (10.0, 20.0, 110.0, 140.5)
    assert [r.id for r in read(store, list_reviews)] == [r1.id, r2.id, r3.id, r4.id]
    assert [r.action for r in read(store, list_reviews, flag_id=c)] == ["relabel", "fix_box"]


@pytest.mark.parametrize(
    ("action", "kwargs", "error"),
    [
        ("delete", {}, "review action must be one of"),
        ("undo", {}, "call undo_last"),
        ("confirm_waste", {"produce": "apple"}, "takes no produce"),
        ("relabel", {}, "needs a produce, a condition or both"),
        ("relabel", {"produce": ""}, "relabel produce must be"),
        ("relabel", {"produce": "x" * 65}, "relabel produce must be"),
        ("fix_box", {}, "needs a box"),
        ("fix_box", {"box": (5, 5, 5, 9)}, "x0 < x1"),
        ("fix_box", {"box": (0, 0, float("nan"), 9)}, "finite"),
        ("fix_box", {"box": (0, 0, 1)}, "4 finite numbers"),
        ("fix_box", {"box": (-1, 0, 5, 5)}, "0 <= x0"),
    ],
)
def test_bad_decisions_are_refused_and_write_nothing(
    shared_store: Store, action: str, kwargs: dict[str, Any], error: str
) -> None:
    (flag,) = [f.id for f in shared_store.flags()]
    with pytest.raises(StoreValueError, match=error):
        write(shared_store, apply_review, flag, action, "ann", **kwargs)
    assert read(shared_store, list_reviews) == [] and shared_store.flags()[0].status == "pending"


def test_unknown_flag_and_reviewer_name(shared_store: Store) -> None:
    with pytest.raises(NotFoundError, match="no flag with id 99"):
        write(shared_store, apply_review, 99, "confirm_waste", "ann")
    with pytest.raises(StoreValueError, match="reviewer must be"):
        write(shared_store, apply_review, 1, "confirm_waste", "")


def test_box_outside_the_stored_frame_is_refused_atomically(store: Store) -> None:
    (flag,) = _flagged(store, [("cam1", "apple")])
    entry = read(store, get_entry, flag)
    assert store.save_frame_image("cam1", entry.best_seq or 0, FRAME_JPEG, 200, 150, [])
    with pytest.raises(StoreValueError, match="outside its 200x150 frame"):
        write(store, apply_review, flag, "fix_box", "ann", box=(0, 0, 201, 100))
    assert read(store, list_reviews) == []
    write(store, apply_review, flag, "fix_box", "ann", box=(0, 0, 200, 150))


def test_undo_walks_back_one_action_at_a_time(store: Store) -> None:
    (a, b) = _flagged(store, [("cam1", "apple"), ("cam1", "apple")])
    write(store, apply_review, a, "relabel", "ann", condition="bruised")
    first = write(store, apply_review, a, "confirm_waste", "ann")
    second = write(store, apply_review, b, "not_waste", "ann")
    (u1,) = write(store, undo_last, "ann")
    assert (u1.action, u1.undoes, u1.flag_id, u1.status) == ("undo", second.id, b, "pending")
    assert read(store, get_entry, b).status == "pending" and read(store, get_entry, b).reviewed_by is None
    (u2,) = write(store, undo_last, "ann")
    assert u2.undoes == first.id
    entry = read(store, get_entry, a)
    assert (entry.status, entry.condition) == ("pending", "bruised")  # the relabel is still in force
    write(store, undo_last, "ann")
    entry = read(store, get_entry, a)
    assert (entry.status, entry.condition, entry.reviewed_by) == ("pending", "rotten", None)
    assert write(store, undo_last, "ann") == []
    undone = {r.id: r.undone_by for r in read(store, list_reviews) if r.action != "undo"}
    assert all(v is not None for v in undone.values())


def test_bulk_confirm_is_one_action_and_all_or_nothing(store: Store) -> None:
    ids = _flagged(store, [("cam1", "apple"), ("cam1", "apple"), ("cam2", "banana")])
    with pytest.raises(NotFoundError):
        write(store, bulk_confirm, [ids[0], 999], "ann")
    assert read(store, list_reviews) == [] and {f.status for f in store.flags()} == {"pending"}

    rows = write(store, bulk_confirm, [ids[2], ids[0], ids[2]], "ann")
    assert sorted(r.flag_id for r in rows) == [ids[0], ids[2]] and len({r.batch_id for r in rows}) == 1
    assert [f.status for f in store.flags()] == ["confirmed", "pending", "confirmed"]
    undos = write(store, undo_last, "ann")
    assert sorted(u.undoes or 0 for u in undos) == sorted(r.id for r in rows)
    assert {f.status for f in store.flags()} == {"pending"}
    with pytest.raises(StoreValueError, match="1 to 500"):
        write(store, bulk_confirm, [], "ann")


def test_undo_never_overwrites_a_later_decision_by_someone_else(store: Store) -> None:
    (a,) = _flagged(store, [("cam1", "apple")])
    write(store, apply_review, a, "confirm_waste", "ann")
    write(store, apply_review, a, "not_waste", "bob")
    with pytest.raises(ReviewConflictError, match="'bob' reviewed it since"):
        write(store, undo_last, "ann")
    assert read(store, get_entry, a).status == "rejected"
    write(store, undo_last, "bob")  # once bob's decision is undone, ann's undo is exact again
    write(store, undo_last, "ann")
    assert read(store, get_entry, a).status == "pending"


def test_frame_images_are_idempotent_and_keep_every_detection(store: Store, taxonomy: Taxonomy) -> None:
    (flag,) = _flagged(store, [("cam1", "apple")])
    best = read(store, get_entry, flag).best_seq or 0
    dets = Detections(
        xyxy=np.array([[10, 20, 110, 140.5], [200, 10, 260, 90]], np.float32),
        confidence=np.array([0.9, 0.6], np.float32),
        class_id=np.array([taxonomy.class_id("apple", "rotten"), taxonomy.class_id("banana", "fresh")]),
        freshness=np.array([0.1, 0.95], np.float32),
        tracker_id=np.array([1, -1]),
    )
    assert store.save_frame_image("cam1", best, FRAME_JPEG, 320, 240, dets, T0, taxonomy=taxonomy)
    assert not store.save_frame_image("cam1", best, b"\xff\xd8other", 320, 240, [])
    frame = read(store, flag_frame, flag)
    assert frame.jpeg == FRAME_JPEG and (frame.width, frame.height) == (320, 240)
    assert [(d.produce, d.condition, d.track_id) for d in frame.detections] == [
        ("apple", "rotten", 1), ("banana", "fresh", None)
    ]
    assert frame.detections[0].box == pytest.approx((10, 20, 110, 140.5))
    assert read(store, get_entry, flag).has_frame
    with pytest.raises(NotFoundError):
        read(store, get_frame_image, "cam1", best + 1)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("cam1", 1, b"not a jpeg", 10, 10, []), "JPEG marker"),
        (("cam1", 1, b"", 10, 10, []), "non-empty bytes"),
        (("cam1", 1, FRAME_JPEG, 0, 10, []), "width must be"),
        (("cam1", -1, FRAME_JPEG, 10, 10, []), "seq must be"),
        (("", 1, FRAME_JPEG, 10, 10, []), "camera id"),
        (("cam1", 1, FRAME_JPEG, 10, 10, [FrameDetection((0, 0, 1, float("inf")), "apple", "fresh", 0.5)]), "finite"),
    ],
)
def test_bad_frame_images_are_refused(shared_store: Store, args: tuple[Any, ...], error: str) -> None:
    with pytest.raises(StoreValueError, match=error):
        shared_store.save_frame_image(*args)


def test_users_have_hashed_passwords_and_roles(store: Store, store_url: str) -> None:
    user = write(store, create_user, "ann", hash_password("correct horse battery"), "ops")
    write(store, create_user, "root", hash_password("admin password 1"), "admin")
    assert (user.username, user.role) == ("ann", "ops")
    assert read(store, verify_password, "ann", "correct horse battery") == user
    assert read(store, verify_password, "ann", "wrong password!") is None
    assert read(store, verify_password, "nobody", "correct horse battery") is None
    assert read(store, get_user, "root") is not None and read(store, get_user, "nobody") is None
    assert [u.username for u in read(store, list_users)] == ["ann", "root"]
    write(store, change_password, "ann", hash_password("a new passphrase"))
    assert read(store, verify_password, "ann", "correct horse battery") is None
    assert read(store, verify_password, "ann", "a new passphrase") is not None

    from sqlalchemy import create_engine, text

    engine = create_engine(store_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM users WHERE username = 'ann'")).scalar_one()
    engine.dispose()
    assert stored.startswith("scrypt$") and "passphrase" not in stored


@pytest.mark.parametrize(
    ("username", "password", "role", "error"),
    [
        ("ann", "short", "ops", "8 to 1024 characters"),
        ("ann", "long enough pw", "root", "role must be one of"),
        ("../ann", "long enough pw", "ops", "a username must be"),
        ("", "long enough pw", "ops", "a username must be"),
    ],
)
def test_bad_users_are_refused(shared_store: Store, username: str, password: str, role: str, error: str) -> None:
    with pytest.raises(StoreValueError, match=error):
        write(shared_store, create_user, username, hash_password(password), role)


def test_duplicate_user_is_refused(store: Store) -> None:
    write(store, create_user, "ann", hash_password("long enough pw"), "ops")
    with pytest.raises(StoreValueError, match="already exists"):
        write(store, create_user, "ann", hash_password("another long pw"), "admin")
    with pytest.raises(NotFoundError):
        write(store, change_password, "bob", hash_password("long enough pw"))


def test_concurrent_reviewers_of_one_flag_are_serialised(store: Store, store_url: str) -> None:
    # Every audit row's "before" must be the state the previous row left: the flag row lock makes it so.
    import threading

    from sqlalchemy import create_engine, select

    from edge.store.schema import reviews

    (flag,) = _flagged(store, [("cam1", "apple")])
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def review(worker: int) -> None:
        try:
            barrier.wait()
            for n in range(5):
                write(store, apply_review, flag, "relabel", f"r{worker}", produce=f"p{worker}-{n}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=review, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    engine = create_engine(store_url)
    with engine.connect() as conn:
        rows = conn.execute(select(reviews.c.produce, reviews.c.prev_produce).order_by(reviews.c.id)).all()
    engine.dispose()
    assert len(rows) == 20 and rows[0].prev_produce is None
    assert all(later.prev_produce == earlier.produce for earlier, later in zip(rows, rows[1:]))
    assert read(store, get_entry, flag).produce == rows[-1].produce
