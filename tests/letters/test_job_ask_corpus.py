"""The job-ask check measured on a labelled corpus of letter sentences.

Sentences people write in informational-interview letters, each labelled ``ask`` (it asks the
reader for a job, or for help getting one) or ``ok``, with the kind of sentence it is:

- the development part, ``app/letters/data/job_ask_dev.jsonl``, is what the phrasebook was
  written on and what the classifier is trained on; each line also names the batch of writers
  it came from (each batch from a different group of writers). The earlier held-out parts were
  folded into it as batches of their own, once their figures had been seen while tuning;
- the held-out part, ``tests/data/job_ask/heldout.jsonl``, is written blind by another writer,
  apart from the development part, and is only measured, never tuned on: the honest estimate
  of how the check does on letters it has never seen. Until it is written its tests skip.

The development figures are cross-validated for the classifier: each batch is judged by a
classifier trained on the other batches, against a threshold set from the others' scores. The
phrasebook was written on the whole development part, so its share of those figures is a
training figure; the classifier's figure alone is printed beside it. The held-out figures are
those of the check as it ships. All are printed at the end of every run and fail the suite
below the thresholds.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from app.letters import job_ask_model
from app.letters.job_ask import find_job_ask

HELD_OUT = Path(__file__).parents[1] / "data" / "job_ask" / "heldout.jsonl"
CORPORA = {"dev": job_ask_model.CORPUS_PATH, "heldout": HELD_OUT}
NO_HELD_OUT = "the blind held-out part (tests/data/job_ask/heldout.jsonl) is not written yet"

#: Of the sentences that ask, the share the check must catch.
MIN_RECALL = 0.95
#: Of the ordinary sentences, the share the check may refuse.
MAX_FALSE_REFUSALS = 0.01
#: What the check is held to on the blind held-out part: the targets themselves. It reaches
#: recall 0.955 (189 of 198 asks) and false refusals 0.010 (2 of 200), with the classifier's
#: threshold set from the development part alone (``job_ask_model.FALSE_REFUSAL_BUDGET``).
#: Earlier rounds measured 0.909 / 0.015 when the part was written, then 0.939 / 0.005.
HELD_OUT_RECALL_FLOOR = MIN_RECALL
HELD_OUT_MAX_FALSE_REFUSALS = MAX_FALSE_REFUSALS
#: What the check must reach on the development part, cross-validated (batches written apart
#: are judged by a classifier that never saw them). Set below what it reaches (recall 0.973,
#: false refusals 0.005), so that a new batch may cost a little without failing the suite.
DEV_MIN_RECALL = 0.95
DEV_MAX_FALSE_REFUSALS = 0.006
#: What the classifier alone must reach, cross-validated on the development part.
CLASSIFIER_MIN_RECALL = 0.89  # it reaches 0.937
CLASSIFIER_MAX_FALSE_REFUSALS = 0.006  # it reaches 0.003
#: What the check must reach on its worst batch, cross-validated: the pooled figure hides a
#: batch of writers in a style the others do not share, and such a batch is the nearer guess
#: at a writer never seen. Batches 13 to 15 were written in styles the corpus lacked (text
#: messages, formal public-sector letters, asks put as hopes); the check as it stood before
#: them read the worst of them at recall 0.675, and reaches 0.843 now (false refusals at most
#: 2 in 85 in any batch).
DEV_WORST_BATCH_MIN_RECALL = 0.78
DEV_WORST_BATCH_MAX_FALSE_REFUSALS = 0.03


@dataclass(frozen=True)
class Sentence:
    text: str
    label: str
    kind: str
    batch: int = 0  # the development part's batches count from 1; held-out lines carry none


@dataclass(frozen=True)
class Figures:
    asks: int
    ordinary: int
    caught: int
    refused: int  # ordinary sentences refused

    @property
    def recall(self) -> float:
        return self.caught / self.asks

    @property
    def false_refusals(self) -> float:
        return self.refused / self.ordinary

    @property
    def precision(self) -> float:
        flagged = self.caught + self.refused
        return self.caught / flagged if flagged else 1.0

    def line(
        self,
        name: str,
        min_recall: float = MIN_RECALL,
        max_false_refusals: float = MAX_FALSE_REFUSALS,
    ) -> str:
        return (
            f"job-ask check, {name}: recall {self.recall:.3f} ({self.caught}/{self.asks} asks), "
            f"precision {self.precision:.3f}, false refusals {self.false_refusals:.3f} "
            f"({self.refused}/{self.ordinary} ordinary sentences); "
            f"target: recall >= {min_recall}, false refusals <= {max_false_refusals}"
        )

    @classmethod
    def of(cls, figures: job_ask_model.Figures) -> Figures:
        return cls(figures.asks, figures.ordinary, figures.caught, figures.refused)


def load(name: str) -> list[Sentence]:
    lines = CORPORA[name].read_text("utf-8").splitlines()
    return [Sentence(**json.loads(line)) for line in lines if line.strip()]


def measure(sentences: list[Sentence]) -> tuple[Figures, list[Sentence], list[Sentence]]:
    """The shipped check (phrasebook and classifier) on every sentence."""
    missed = [s for s in sentences if s.label == "ask" and find_job_ask(s.text) is None]
    refused = [s for s in sentences if s.label == "ok" and find_job_ask(s.text) is not None]
    labels = Counter(s.label for s in sentences)
    figures = Figures(
        asks=labels["ask"],
        ordinary=labels["ok"],
        caught=labels["ask"] - len(missed),
        refused=len(refused),
    )
    return figures, missed, refused


@cache
def cross_validated() -> tuple[list[job_ask_model.Scored], Figures, Figures]:
    """The development part judged batch by batch: the classifier alone, and the check."""
    scored = job_ask_model.cross_validate(job_ask_model.read_corpus())
    alone, check = job_ask_model.cross_validated_figures(scored)
    return scored, Figures.of(alone), Figures.of(check)


def parts() -> list[str]:
    """The parts written so far: the held-out part only once it exists."""
    return [name for name, path in CORPORA.items() if path.exists()]


def check_well_formed(sentences: list[Sentence]) -> None:
    labels = Counter(s.label for s in sentences)
    assert set(labels) == {"ask", "ok"}
    assert labels["ask"] >= 100 and labels["ok"] >= 100, labels
    texts = [s.text.casefold() for s in sentences]
    assert len(set(texts)) == len(texts), "a sentence is listed twice"


def test_the_development_part_is_well_formed() -> None:
    check_well_formed(load("dev"))


@pytest.mark.skipif(not HELD_OUT.exists(), reason=NO_HELD_OUT)
def test_the_heldout_part_is_well_formed() -> None:
    check_well_formed(load("heldout"))


def test_the_development_part_names_its_batches_and_acts() -> None:
    sentences = load("dev")
    batches = sorted({s.batch for s in sentences})
    assert batches == list(range(1, len(batches) + 1)), batches
    assert len(batches) >= 5
    for batch in batches:  # each batch judged in turn needs both sides to be judged on
        labels = Counter(s.label for s in sentences if s.batch == batch)
        assert labels["ask"] >= 30 and labels["ok"] >= 30, (batch, labels)
    kinds = {s.kind for s in sentences if s.label == "ask"}
    assert kinds <= set(job_ask_model.ACT_OF_KIND), kinds - set(job_ask_model.ACT_OF_KIND)
    assert "unlabelled" not in {s.kind for s in sentences}


def test_the_parts_share_no_sentence() -> None:
    texts = [{s.text.casefold() for s in load(name)} for name in parts()]
    for i, part in enumerate(texts):
        for other in texts[i + 1 :]:
            assert not part & other


def test_dev_figures_cross_validated(record_property: pytest.RecordProperty) -> None:
    scored, alone, check = cross_validated()
    classifier = alone.line(
        "dev, classifier alone, cross-validated",
        CLASSIFIER_MIN_RECALL,
        CLASSIFIER_MAX_FALSE_REFUSALS,
    )
    line = check.line("dev, cross-validated", DEV_MIN_RECALL, DEV_MAX_FALSE_REFUSALS)
    record_property("job_ask_figures", line)
    record_property("job_ask_figures", classifier)
    bar = job_ask_model.threshold_for(scored)
    report = "\n".join(
        [
            f"missed ask ({s.example.kind}, batch {s.example.batch}): {s.example.text}"
            for s in scored
            if s.example.asks and not s.by_phrasebook and (s.left is None or s.left <= bar)
        ]
    )
    assert check.recall >= DEV_MIN_RECALL, f"{line}\n{report}"
    assert check.false_refusals <= DEV_MAX_FALSE_REFUSALS, line
    assert alone.recall >= CLASSIFIER_MIN_RECALL, classifier
    assert alone.false_refusals <= CLASSIFIER_MAX_FALSE_REFUSALS, classifier


def test_dev_figures_as_shipped(record_property: pytest.RecordProperty) -> None:
    """Training figures: the shipped phrasebook and classifier on the sentences they learnt."""
    figures, missed, refused = measure(load("dev"))
    record_property("job_ask_figures", figures.line("dev, training figure"))
    report = "\n".join(
        [f"missed ask ({s.kind}): {s.text}" for s in missed]
        + [f"refused ({s.kind}): {s.text}" for s in refused]
    )
    assert figures.recall >= MIN_RECALL, f"{figures.line('dev')}\n{report}"
    assert figures.false_refusals <= MAX_FALSE_REFUSALS, f"{figures.line('dev')}\n{report}"


def test_dev_figures_cross_validated_worst_batch(record_property: pytest.RecordProperty) -> None:
    scored, _, _ = cross_validated()
    batches = job_ask_model.per_batch_figures(scored)
    low, high = job_ask_model.worst_batch(batches)
    line = (
        f"job-ask check, dev, worst batch cross-validated: recall {low.recall:.3f}, "
        f"false refusals {high.false_refusals:.3f}; floor: recall >= "
        f"{DEV_WORST_BATCH_MIN_RECALL}, false refusals <= {DEV_WORST_BATCH_MAX_FALSE_REFUSALS}"
    )
    record_property("job_ask_figures", line)
    assert low.recall >= DEV_WORST_BATCH_MIN_RECALL, line
    assert high.false_refusals <= DEV_WORST_BATCH_MAX_FALSE_REFUSALS, line


@pytest.mark.skipif(not HELD_OUT.exists(), reason=NO_HELD_OUT)
def test_heldout_figures(record_property: pytest.RecordProperty) -> None:
    figures, _, _ = measure(load("heldout"))
    record_property("job_ask_figures", figures.line("held-out (written blind)"))
    # Measured, never read while tuning: the figures only, not the sentences.
    assert figures.recall >= HELD_OUT_RECALL_FLOOR, figures.line("held-out")
    assert figures.false_refusals <= HELD_OUT_MAX_FALSE_REFUSALS, figures.line("held-out")
