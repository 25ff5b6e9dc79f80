"""The job-ask check measured on a labelled corpus of letter sentences.

Sentences people write in informational-interview letters, each labelled ``ask`` (it asks the
reader for a job, or for help getting one) or ``ok``, with the kind of sentence it is:

- the development part, ``app/letters/data/job_ask_dev.jsonl``, is what the phrasebook was
  written on and what the classifier is trained on; each line also names the batch of writers
  it came from (five batches, each from a different group of writers);
- the held-out part, ``tests/data/job_ask/heldout.jsonl``, was written apart from it and is
  only measured, never tuned on (its figures were seen while the phrasebook was written, so
  it is no longer a blind judge);
- the fresh held-out part, ``tests/data/job_ask/heldout_fresh.jsonl`` (320 sentences, half of
  them asks), was written by another writer after the classifier was finished, and measured
  once it was in: it is the honest estimate of how the check does on letters it has never
  seen. Its floors are the figures of that first measurement, so that no change makes the
  check worse on it; the target is printed beside them.

The development figures are cross-validated for the classifier: each batch is judged by a
classifier trained on the other four, against a threshold set from the other four's scores. The
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
FRESH = HELD_OUT.with_name("heldout_fresh.jsonl")
CORPORA = {"dev": job_ask_model.CORPUS_PATH, "heldout": HELD_OUT, "fresh": FRESH}

#: Of the sentences that ask, the share the check must catch.
MIN_RECALL = 0.95
#: Of the ordinary sentences, the share the check may refuse.
MAX_FALSE_REFUSALS = 0.01
#: What the held-out part is held to. With the classifier beside the phrasebook its recall
#: reached MIN_RECALL (from 0.808 with the phrasebook alone), so it is held to the target now:
#: an edit of the phrasebook, the corpus or the classifier may not lose what it catches.
HELD_OUT_RECALL_FLOOR = MIN_RECALL
#: The fresh held-out part as first measured (141 of 160 asks caught, 6 of 160 ordinary
#: sentences refused): below the target, so held to where it is, never lower.
FRESH_RECALL_FLOOR = 0.88
FRESH_MAX_FALSE_REFUSALS = 0.0375
#: What the classifier alone must reach, cross-validated on the development part.
CLASSIFIER_MIN_RECALL = 0.90


@dataclass(frozen=True)
class Sentence:
    text: str
    label: str
    kind: str
    batch: int = 0  # the development part's batches are 1 to 5; held-out lines carry none


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

    def line(self, name: str, min_recall: float = MIN_RECALL) -> str:
        return (
            f"job-ask check, {name}: recall {self.recall:.3f} ({self.caught}/{self.asks} asks), "
            f"precision {self.precision:.3f}, false refusals {self.false_refusals:.3f} "
            f"({self.refused}/{self.ordinary} ordinary sentences); "
            f"target: recall >= {min_recall}, false refusals <= {MAX_FALSE_REFUSALS}"
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


@pytest.mark.parametrize("name", ["dev", "heldout", "fresh"])
def test_the_corpus_is_well_formed(name: str) -> None:
    sentences = load(name)
    labels = Counter(s.label for s in sentences)
    assert set(labels) == {"ask", "ok"}
    assert labels["ask"] >= 100 and labels["ok"] >= 100, labels
    texts = [s.text.casefold() for s in sentences]
    assert len(set(texts)) == len(texts), "a sentence is listed twice"


def test_the_development_part_names_its_batches_and_acts() -> None:
    sentences = load("dev")
    assert {s.batch for s in sentences} == {1, 2, 3, 4, 5}
    kinds = {s.kind for s in sentences if s.label == "ask"}
    assert kinds <= set(job_ask_model.ACT_OF_KIND), kinds - set(job_ask_model.ACT_OF_KIND)


def test_the_parts_share_no_sentence() -> None:
    parts = [{s.text.casefold() for s in load(name)} for name in CORPORA]
    for i, part in enumerate(parts):
        for other in parts[i + 1 :]:
            assert not part & other


def test_dev_figures_cross_validated(record_property: pytest.RecordProperty) -> None:
    scored, alone, check = cross_validated()
    classifier = alone.line("dev, classifier alone, cross-validated", CLASSIFIER_MIN_RECALL)
    record_property("job_ask_figures", check.line("dev, cross-validated"))
    record_property("job_ask_figures", classifier)
    bar = job_ask_model.threshold_for(scored)
    report = "\n".join(
        [
            f"missed ask ({s.example.kind}, batch {s.example.batch}): {s.example.text}"
            for s in scored
            if s.example.asks and not s.by_phrasebook and (s.left is None or s.left <= bar)
        ]
    )
    assert check.recall >= MIN_RECALL, f"{check.line('dev')}\n{report}"
    assert check.false_refusals <= MAX_FALSE_REFUSALS, check.line("dev")
    assert alone.recall >= CLASSIFIER_MIN_RECALL, classifier
    assert alone.false_refusals <= MAX_FALSE_REFUSALS, classifier


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


def test_heldout_figures(record_property: pytest.RecordProperty) -> None:
    figures, _, _ = measure(load("heldout"))
    record_property("job_ask_figures", figures.line("heldout"))
    # Measured, never read while tuning: the figures only, not the sentences.
    assert figures.recall >= HELD_OUT_RECALL_FLOOR, figures.line("heldout")
    assert figures.false_refusals <= MAX_FALSE_REFUSALS, figures.line("heldout")


def test_fresh_heldout_figures(record_property: pytest.RecordProperty) -> None:
    figures, _, _ = measure(load("fresh"))
    record_property("job_ask_figures", figures.line("fresh held-out (the honest estimate)"))
    assert figures.recall >= FRESH_RECALL_FLOOR, figures.line("fresh held-out")
    assert figures.false_refusals <= FRESH_MAX_FALSE_REFUSALS, figures.line("fresh held-out")
