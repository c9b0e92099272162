"""The grader: its crop geometry, a real ONNX Runtime session on a real small classifier, the card check, and the
pure functions that turn its probabilities into produce marginals, condition and freshness."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.training.testing_models import COLOUR_GRADER_CLASSES, colour_grader_onnx, colour_grader_spec
from vision.detector_options import RuntimeOptions
from vision.errors import InputError, ModelLoadError
from vision.grader import (
    GRADER_PAD, NOT_PRODUCE, Grader, choose_produce, grade_within, grader_crop, grader_spec_from_onnx,
    not_produce_share, produce_marginals, verify_grader, vetoes,
)
from vision.model_card import GraderSpec, ModelCardDraft
from vision.taxonomy import Taxonomy

RED, DARK, YELLOW = (0, 0, 230), (20, 20, 20), (0, 230, 230)  # BGR


@pytest.fixture(scope="module")
def grader_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return colour_grader_onnx(tmp_path_factory.mktemp("grader") / "grader.onnx")


@pytest.fixture(scope="module")
def grader(grader_file: Path, taxonomy: Taxonomy) -> Grader:
    return Grader(grader_file, colour_grader_spec(grader_file), taxonomy=taxonomy)


def gradient(h: int = 120, w: int = 200) -> np.ndarray:
    """Every pixel different: x in channel 0, y in channel 1 (so a crop shows exactly where it was cut)."""
    ys, xs = np.mgrid[0:h, 0:w]
    return np.stack([xs % 256, ys % 256, np.full_like(xs, 7)], axis=2).astype(np.uint8)


# --- grader_crop -------------------------------------------------------------------------------------------------


def test_crop_is_the_padded_square_around_the_box_at_native_size() -> None:
    image = gradient()
    # A 50 x 25 box: side 50 * 1.16 = 58, centred on (75, 60).
    crop = grader_crop(image, (50, 47.5, 100, 72.5), 58)
    assert crop.shape == (58, 58, 3) and crop.dtype == np.uint8
    assert crop[0, 0, 0] == 75 - 29 and crop[0, 0, 1] == 60 - 29  # top-left of the square
    assert crop[-1, -1, 0] == 75 + 28 and crop[-1, -1, 1] == 60 + 28
    assert np.array_equal(crop, image[31:89, 46:104])


def test_crop_outside_the_image_replicates_its_edge() -> None:
    image = gradient()
    crop = grader_crop(image, (0, 0, 40, 40), 46, pad=0.075)  # side 46, centred on (20, 20): 3 px out on each side
    assert crop.shape == (46, 46, 3)
    assert np.array_equal(crop[3:, 3:], image[0:43, 0:43])
    assert np.array_equal(crop[:3, 3:], np.repeat(image[0:1, 0:43], 3, axis=0))  # rows above: the top row again
    assert np.array_equal(crop[3:, :3], np.repeat(image[0:43, 0:1], 3, axis=1))  # columns left: the left column
    assert (crop[:3, :3] == image[0, 0]).all()  # the corner: the corner pixel


@pytest.mark.parametrize(("size", "interpolation"), [(29, cv2.INTER_AREA), (116, cv2.INTER_LINEAR)])
def test_crop_is_resized_with_area_when_shrinking_and_linear_when_enlarging(size: int, interpolation: int) -> None:
    image = gradient()
    native = grader_crop(image, (50, 47.5, 100, 72.5), 58)
    crop = grader_crop(image, (50, 47.5, 100, 72.5), size)
    assert crop.shape == (size, size, 3)
    assert np.array_equal(crop, cv2.resize(native, (size, size), interpolation=interpolation))


def test_crop_pad_default_is_the_cards() -> None:
    assert GRADER_PAD == 0.08 == GraderSpec(sha256="0" * 64, classes=["a", "b"], input_size=8).crop_pad


@pytest.mark.parametrize(
    ("image", "box", "size", "message"),
    [
        (np.zeros((10, 10), np.uint8), (1, 1, 5, 5), 8, "BGR uint8 image"),
        (np.zeros((10, 10, 3), np.float32), (1, 1, 5, 5), 8, "BGR uint8 image"),
        (np.zeros((10, 10, 3), np.uint8), (5, 1, 5, 5), 8, "x1 > x0"),
        (np.zeros((10, 10, 3), np.uint8), (1, 1, np.nan, 5), 8, "x1 > x0"),
        (np.zeros((10, 10, 3), np.uint8), (1, 1, 5), 8, "x1 > x0"),
        (np.zeros((10, 10, 3), np.uint8), (1, 1, 5, 5), 0, "size must be an int >= 1"),
        (np.zeros((10, 10, 3), np.uint8), (1, 1, 5, 5), True, "size must be an int >= 1, got True"),
        (np.zeros((10, 10, 3), np.uint8), (50, 50, 60, 60), 8, "outside"),
    ],
)
def test_crop_refuses_bad_input(image: np.ndarray, box: tuple, size: int, message: str) -> None:
    with pytest.raises(InputError, match=message):
        grader_crop(image, box, size)


# --- the session -------------------------------------------------------------------------------------------------


def two_items() -> tuple[np.ndarray, np.ndarray]:
    image = np.full((120, 240, 3), 128, np.uint8)
    image[10:110, 10:110] = RED
    image[10:110, 130:230] = DARK
    return image, np.array([[20, 20, 100, 100], [140, 20, 220, 100]], np.float32)


def test_grades_a_red_item_fresh_apple_and_a_dark_one_rotten(grader: Grader) -> None:
    image, boxes = two_items()
    probs = grader.grade(image, boxes)
    assert probs.shape == (2, len(COLOUR_GRADER_CLASSES)) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert grader.classes[int(np.argmax(probs[0]))] == "apple_fresh" and probs[0].max() > 0.99
    assert grader.classes[int(np.argmax(probs[1]))] == "apple_rotten" and probs[1].max() > 0.8
    assert grader.provider == "CPUExecutionProvider"


def test_grades_in_one_batch_what_it_grades_one_by_one(grader: Grader) -> None:
    image, boxes = two_items()
    together = grader.grade(image, boxes)
    alone = np.concatenate([grader.grade(image, boxes[i:i + 1]) for i in range(len(boxes))])
    assert np.allclose(together, alone, atol=1e-6)


def test_no_boxes_give_no_rows(grader: Grader) -> None:
    image, _ = two_items()
    assert grader.grade(image, np.zeros((0, 4), np.float32)).shape == (0, len(COLOUR_GRADER_CLASSES))


def test_the_crops_are_fed_as_rgb(grader: Grader) -> None:
    # Blue in BGR is (255, 0, 0); were channels not swapped it would read as red, a fresh apple.
    image = np.zeros((64, 64, 3), np.uint8)
    image[:] = (230, 0, 0)
    probs = grader.grade(image, np.array([[8, 8, 56, 56]]))
    assert grader.classes[int(np.argmax(probs[0]))] != "apple_fresh"


def test_logits_get_a_softmax_and_a_static_batch_runs_in_chunks(tmp_path: Path, grader: Grader) -> None:
    path = colour_grader_onnx(tmp_path / "logits.onnx", softmax=False, batch=1)
    plain = Grader(path, colour_grader_spec(path))
    image, boxes = two_items()
    boxes = np.concatenate([boxes, boxes[:1]])  # three crops through a batch-1 graph
    probs = plain.grade(image, boxes)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(probs, grader.grade(image, boxes), atol=1e-5)


def test_it_runs_with_the_detectors_runtime_options(grader_file: Path) -> None:
    spec = colour_grader_spec(grader_file)
    # The detector's value as the service makes it: replicas and IO binding are the detector's, and do not stop it.
    runtime = RuntimeOptions(providers=("CPUExecutionProvider",), cpu_replicas=2, io_binding=False,
                             intra_op_threads=2)
    graded = Grader(grader_file, spec, runtime=runtime)
    assert graded.provider == "CPUExecutionProvider"
    image, boxes = two_items()
    assert graded.grade(image, boxes).shape == (len(boxes), len(COLOUR_GRADER_CLASSES))


def test_bad_runtime_options_are_refused_with_a_clear_error(grader_file: Path) -> None:
    spec = colour_grader_spec(grader_file)
    with pytest.raises(InputError, match="Grader runtime must be a RuntimeOptions, got tuple"):
        Grader(grader_file, spec, runtime=("CPUExecutionProvider",))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="providers: input should be a valid tuple"):
        RuntimeOptions(providers="CPUExecutionProvider")  # type: ignore[arg-type]
    with pytest.raises(ModelLoadError, match=r"unknown ONNX Runtime execution provider\(s\) \['NoSuchProvider'\]"):
        Grader(grader_file, spec, runtime=RuntimeOptions(providers=("NoSuchProvider",)))


def test_four_turns_grade_each_crop_as_the_mean_of_its_quarter_turns(tmp_path: Path) -> None:
    # A grader that reads only the crop's top half, so a crop's turns really read differently.
    path = colour_grader_onnx(tmp_path / "top.onnx", top_half=True)
    as_cut = Grader(path, colour_grader_spec(path))
    turned = Grader(path, colour_grader_spec(path).model_copy(update={"turns": 4}))
    assert (as_cut.turns, turned.turns) == (1, 4)
    crops = np.zeros((3, 64, 64, 3), np.uint8)
    crops[0, :32] = RED  # red on top, dark below
    crops[1, :, :32] = YELLOW  # yellow on the left, dark on the right
    crops[2] = RED
    probs = turned.grade_crops(crops)
    assert probs.shape == (3, len(COLOUR_GRADER_CLASSES)) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    expected = np.mean([as_cut.grade_crops(np.ascontiguousarray(np.rot90(crops, k, axes=(1, 2))))
                        for k in range(4)], axis=0)
    assert np.allclose(probs, expected, atol=1e-6)
    plain = as_cut.grade_crops(crops)
    assert not np.allclose(probs[:2], plain[:2], atol=0.05)  # the turns change the half-and-half crops' readings
    assert np.allclose(probs[2], plain[2], atol=1e-6)  # and not a crop that looks the same every way round
    # A static batch-1 graph runs the 12 turned crops in chunks and gives the same rows.
    static = colour_grader_onnx(tmp_path / "top_b1.onnx", top_half=True, batch=1)
    chunked = Grader(static, colour_grader_spec(static).model_copy(update={"turns": 4}))
    assert np.allclose(chunked.grade_crops(crops), probs, atol=1e-6)


def test_turns_other_than_one_or_four_are_refused_by_the_card() -> None:
    with pytest.raises(ValueError, match="turns"):
        GraderSpec(sha256="0" * 64, classes=["a", "b"], input_size=8, turns=2)  # type: ignore[arg-type]
    assert GraderSpec(sha256="0" * 64, classes=["a", "b"], input_size=8).turns == 1  # cards written before it


def test_crops_of_the_wrong_size_are_refused(grader: Grader) -> None:
    with pytest.raises(InputError, match=r"\(n, 64, 64, 3\) uint8"):
        grader.grade_crops(np.zeros((2, 32, 32, 3), np.uint8))


# --- the card section --------------------------------------------------------------------------------------------


def test_a_file_that_is_not_the_cards_grader_is_refused(tmp_path: Path, grader_file: Path) -> None:
    spec = colour_grader_spec(grader_file)
    other = colour_grader_onnx(tmp_path / "other.onnx", bias=np.array([1.0, 10.0, 0.0, 8.0]))
    with pytest.raises(ModelLoadError, match="does not match the grader sha256 on the card of v0007"):
        verify_grader(spec, other, what="v0007")
    with pytest.raises(ModelLoadError, match="grader file of v0007 not found"):
        verify_grader(spec, tmp_path / "missing.onnx", what="v0007")


@pytest.mark.parametrize(
    ("build", "card", "problem"),
    [
        ({"names": ("apple_rotten", "apple_fresh", "banana_fresh", "banana_rotten")}, {}, "names embedded"),
        ({"size": 32}, {}, "input height is 32, card input_size says 64"),
        ({}, {"classes": ["apple_fresh", "apple_rotten", "banana_fresh"]}, "4 classes, its card 3"),
    ],
)
def test_a_graph_that_disagrees_with_its_card_section_is_refused(
    tmp_path: Path, build: dict, card: dict, problem: str
) -> None:
    path = colour_grader_onnx(tmp_path / "g.onnx", **build)
    spec = colour_grader_spec(path).model_copy(update=card)
    with pytest.raises(ModelLoadError, match=problem):
        Grader(path, spec)


def test_placeholder_names_say_nothing(tmp_path: Path) -> None:
    path = colour_grader_onnx(tmp_path / "g.onnx", names=("0", "1", "2", "3"))
    Grader(path, colour_grader_spec(path))  # no mismatch: ultralytics writes these for a model built without names


def test_spec_from_an_export_reads_names_and_size(tmp_path: Path, grader_file: Path) -> None:
    spec = grader_spec_from_onnx(grader_file)
    assert spec == colour_grader_spec(grader_file).model_copy(update={"training": spec.training})
    nameless = colour_grader_onnx(tmp_path / "nameless.onnx", names=None)
    with pytest.raises(ModelLoadError, match="embeds no class names"):
        grader_spec_from_onnx(nameless)


def test_card_grader_classes_must_be_detector_classes(taxonomy: Taxonomy, grader_file: Path) -> None:
    base = {"classes": list(taxonomy.class_names), "taxonomy": taxonomy.to_dict(), "input_size": (64, 64)}
    spec = colour_grader_spec(grader_file)
    assert ModelCardDraft(**base, grader=spec).grader == spec
    with pytest.raises(ValueError, match=r"grader classes \['pear_fresh'\] are not detector classes"):
        ModelCardDraft(**base, grader=spec.model_copy(update={"classes": ["apple_fresh", "pear_fresh"]}).model_dump())
    with pytest.raises(ValueError, match="plain file name"):
        GraderSpec(file="../grader.onnx", sha256="0" * 64, classes=["a", "b"], input_size=8)
    with pytest.raises(ValueError, match="extra"):
        GraderSpec(sha256="0" * 64, classes=["a", "b"], input_size=8, mean=[0.5])  # type: ignore[call-arg]


# --- what the probabilities say ----------------------------------------------------------------------------------

CLASSES = ("apple_fresh", "apple_bruised", "apple_rotten", "banana_fresh", "banana_rotten")


@pytest.mark.parametrize(
    ("probs", "produce", "condition", "freshness"),
    [
        ((0.1, 0.0, 0.1, 0.8, 0.0), "apple", "fresh", 0.5),  # renormalised within apple: half fresh, half rotten
        ((0.0, 0.3, 0.1, 0.6, 0.0), "apple", "bruised", 0.75 * 0.6),
        ((0.5, 0.0, 0.0, 0.2, 0.3), "banana", "rotten", 0.4),
        ((0.0, 0.0, 0.0, 1.0, 0.0), "apple", None, None),  # no apple mass at all: it says nothing about apples
        ((0.0, 0.2, 0.2, 0.6, 0.0), "apple", "bruised", 0.3),  # a tie goes to the condition listed first
        ((0.9, 0.0, 0.0, 0.1, 0.0), "tomato", None, None),  # no tomato class: the detector decides
        ((0.9, 0.0, 0.0, 0.1, 0.0), "orange", None, None),
    ],
)
def test_grade_within_a_produce(
    taxonomy: Taxonomy, probs: tuple, produce: str, condition: str | None, freshness: float | None
) -> None:
    got = grade_within(np.array(probs), CLASSES, taxonomy, produce)
    if condition is None:
        assert got is None
    else:
        assert got is not None and got.condition == condition
        assert got.freshness == pytest.approx(freshness)


def test_grader_class_order_does_not_change_the_reading(taxonomy: Taxonomy) -> None:
    shuffled = ("banana_rotten", "apple_rotten", "apple_fresh", "banana_fresh", "apple_bruised")
    probs = {"apple_fresh": 0.2, "apple_bruised": 0.2, "apple_rotten": 0.2, "banana_fresh": 0.3, "banana_rotten": 0.1}
    a = grade_within(np.array([probs[c] for c in CLASSES]), CLASSES, taxonomy, "apple")
    b = grade_within(np.array([probs[c] for c in shuffled]), shuffled, taxonomy, "apple")
    assert a == b and a is not None and a.condition == "fresh"


def test_produce_marginals(taxonomy: Taxonomy) -> None:
    probs = np.array([[0.1, 0.2, 0.3, 0.4, 0.0], [0.0, 0.0, 0.0, 0.5, 0.5]])
    assert np.allclose(produce_marginals(probs, CLASSES, taxonomy), [[0.6, 0.4, 0, 0], [0, 1.0, 0, 0]])
    assert produce_marginals(probs[0], CLASSES, taxonomy).shape == (1, 4)


@pytest.mark.parametrize(
    ("classes", "probs", "produce", "message"),
    [
        (("apple_fresh", "pear_fresh"), (0.5, 0.5), "apple", "not taxonomy classes"),
        (CLASSES, (0.5, 0.5), "apple", "do not fit 5 grader classes"),
        (CLASSES, (0.5, -0.1, 0.2, 0.2, 0.2), "apple", "non-negative"),
        (CLASSES, (0.2,) * 5, "pear", "not in the taxonomy"),
    ],
)
def test_bad_probabilities_or_names_are_refused(
    taxonomy: Taxonomy, classes: tuple, probs: tuple, produce: str, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        grade_within(np.array(probs), classes, taxonomy, produce)


@pytest.mark.parametrize(
    ("vote", "marginal", "weight", "expected"),
    [
        ((3, 1, 0, 0), None, 1.0, 0),  # the detector alone
        ((3, 1, 0, 0), (0, 1, 0, 0), 1.0, 1),  # 0.75 + 0 < 0.25 + 1
        ((3, 1, 0, 0), (0, 1, 0, 0), 0.4, 0),  # 0.75 > 0.25 + 0.4
        ((3, 1, 0, 0), (0, 1, 0, 0), 0.0, 0),  # weight 0: the grader has no say in the produce
        ((30, 10, 0, 0), (0, 1, 0, 0), 0.6, 1),  # shares, not raw votes: more frames do not drown the grader
        ((0, 0, 0, 0), (0, 0, 1, 0), 1.0, 2),  # no vote at all: the grader decides
        ((1, 1, 0, 0), None, 1.0, 0),  # a tie: the first kind
    ],
)
def test_choose_produce(vote: tuple, marginal: tuple | None, weight: float, expected: int) -> None:
    got = choose_produce(np.array(vote, float), None if marginal is None else np.array(marginal, float), weight)
    assert got == expected


def test_choose_produce_refuses_a_marginal_of_another_taxonomy() -> None:
    with pytest.raises(InputError, match="does not fit"):
        choose_produce(np.ones(4), np.ones(3), 1.0)


@pytest.mark.parametrize(
    ("condition", "freshness", "threshold", "flagged"),
    [
        ("rotten", 0.2, 0.8, True),
        ("fresh", 0.7, 0.8, False),  # under the threshold, but the grader calls it fresh
        ("bruised", 0.6, 0.5, False),  # spoiled call, but above the threshold
        ("overripe", 0.79, 0.8, True),
    ],
)
def test_grade_flags_needs_both_the_threshold_and_a_spoiled_call(
    condition: str, freshness: float, threshold: float, flagged: bool
) -> None:
    from vision.grader import ConditionGrade, grade_flags

    assert grade_flags(ConditionGrade(condition, freshness), threshold, "fresh") is flagged


def test_the_not_produce_class_counts_for_no_kind_and_vetoes_when_most_likely(taxonomy: Taxonomy) -> None:
    classes = ["apple_fresh", "apple_rotten", "orange_fresh", NOT_PRODUCE]
    probs = np.array([[0.1, 0.1, 0.2, 0.6], [0.5, 0.1, 0.1, 0.3]])
    marginals = produce_marginals(probs, classes, taxonomy)
    apple, orange = taxonomy.produce.index("apple"), taxonomy.produce.index("orange")
    assert np.allclose(marginals[:, apple], [0.2, 0.6]) and np.allclose(marginals[:, orange], [0.2, 0.1])
    assert np.allclose(marginals.sum(axis=1), [0.4, 0.7])  # the not-produce share belongs to no kind
    assert np.allclose(not_produce_share(probs, classes), [0.6, 0.3])
    assert vetoes(probs[:1], classes) and not vetoes(probs[1], classes)
    assert not vetoes(probs, classes)  # the mean over an item's views decides: 0.45
    # Freshness within apple ignores the not-produce share.
    grade = grade_within(probs[0], classes, taxonomy, "apple")
    assert grade is not None and np.isclose(grade.freshness, 0.5)
    assert not vetoes(probs[:, :3] / probs[:, :3].sum(axis=1, keepdims=True), classes[:3])  # no such class: no veto
    with pytest.raises(InputError, match="not taxonomy classes"):
        produce_marginals(probs, ["apple_fresh", "apple_rotten", "orange_fresh", "no_produce"], taxonomy)
