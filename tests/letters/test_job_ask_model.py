"""The job-ask classifier: its features, its determinism, its cost, and how it joins the check.

The classifier reads the sentences the phrasebook leaves open (see app/letters/job_ask_model.py).
Its weights are committed in app/letters/job_ask_model.json; the first tests here rebuild them
from the corpus and the phrasebook and require the identical file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.letters import job_ask, job_ask_model
from app.letters.job_ask import PHRASEBOOK, classifier, find_job_ask, find_job_asks
from app.letters.job_ask_model import Model, ModelError, features
from tests.cpu_time import least_cpu_times

LEXICON = PHRASEBOOK.lexicon
ROOT = Path(__file__).parents[2]
STALE = "the committed model is stale: run `make job-ask-model` and commit the file"

#: Asks in words the phrasebook has no pattern for, which the classifier catches.
CLASSIFIER_ASKS = [
    "If there's room in the budget for another analyst, I'd jump at the chance to fill it.",
    "Attached are my certificates and references for your review as a candidate for the site "
    "manager position.",
    "I would be most obliged if your chambers could accommodate me for a mini-pupillage.",
    "I'd love to be on your team one day.",
]


def words(text: str) -> list[str]:
    return job_ask.normalise(text).split(" ")


class TestTheCommittedModel:
    def test_it_was_built_from_this_corpus_and_this_phrasebook(self) -> None:
        document = json.loads(job_ask_model.MODEL_PATH.read_text("utf-8"))
        corpus = job_ask_model.CORPUS_PATH.read_text("utf-8")
        assert document["corpus"]["sha256"] == job_ask_model._sha256(corpus), STALE
        assert document["phrasebook_sha256"] == PHRASEBOOK.fingerprint, STALE

    def test_rebuilding_it_gives_the_identical_file(self) -> None:
        rebuilt = job_ask_model.dumps(job_ask_model.build())
        assert rebuilt == job_ask_model.MODEL_PATH.read_text("utf-8"), STALE

    def test_it_loads_and_names_the_phrasebook_s_acts(self) -> None:
        model = classifier()
        acts = {phrase.act.name for phrase in PHRASEBOOK.phrases}
        assert set(model.acts) == set(job_ask_model.ACT_OF_KIND.values()) <= acts
        assert model.threshold > 0
        assert model.pair_threshold > model.threshold  # two sentences hold more features
        assert 1_000 < len(model.weights) < 20_000  # small, and pruned of weights that are 0

    def test_a_bad_file_is_refused(self) -> None:
        for text in ["", "[]", '{"format": 99}', '{"format": 1, "weights": {}}']:
            with pytest.raises(ModelError):
                job_ask_model.load(text)


class TestDeterminism:
    def test_training_twice_gives_the_same_weights(self) -> None:
        rows = [list(features(words(t), LEXICON)) for t in CLASSIFIER_ASKS * 2 + ["thanks"] * 3]
        labels = [True] * 8 + [False] * 3
        assert job_ask_model.fit(rows, labels) == job_ask_model.fit(rows, labels)

    def test_no_hash_seed_changes_the_weights(self) -> None:
        """Training walks lists, never sets, so Python's per-process string hashing is moot."""
        script = (
            "from app.letters import job_ask_model as m\n"
            "ex = m.read_corpus()[:200]\n"
            "s = m.cross_validate(ex)\n"
            "print(repr(m.threshold_for(s)), m.cross_validated_figures(s))\n"
        )
        outputs = set()
        for seed in ("1", "2"):
            env = {**os.environ, "PYTHONHASHSEED": seed}
            result = subprocess.run(
                [sys.executable, "-c", script],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            outputs.add(result.stdout)
        assert len(outputs) == 1, outputs


class TestFeatures:
    def test_words_pairs_classes_and_persons(self) -> None:
        found = features(words("Could you forward my CV to the hiring manager?"), LEXICON)
        for name in [
            "bias",
            "s:could",
            "s2:could_you",
            "w:forward",
            "b:forward_my",
            "m:request",
            "m:resume",
            "m:hiring_people",
            "c:@request_forward",
            "c:my_@resume",
            "p:me",
            "p:you",
            "p:me_you",
        ]:
            assert name in found, name
        assert found["m:request"] == (0, 1)  # "could you": where each feature sits, in words
        assert found["w:cv"] == (4, 4)
        assert "neg" not in found

    def test_a_negation_before_a_class_is_a_feature_of_its_own(self) -> None:
        found = features(words("I am not asking you for a role"), LEXICON)
        assert {"neg", "m:role", "mn:role"} <= set(found)
        assert "mn:role" not in features(words("I am asking you for a role"), LEXICON)

    def test_the_order_is_the_sentence_s(self) -> None:
        found = list(features(words("hire me please"), LEXICON))
        assert found[:4] == ["bias", "s:hire", "s2:hire_me", "w:hire"]

    def test_odd_input(self) -> None:
        assert list(features([], LEXICON)) == ["bias"]
        assert "w:" + "x" * 1000 in features(["x" * 1000], LEXICON)


class TestTheModel:
    def test_score_act_and_telling_words(self) -> None:
        model = Model(
            weights={"bias": -1.0, "w:hire": 1.0, "b:hire_me": 2.0, "w:please": 0.25},
            threshold=0.5,
            acts={"asking": {"w:please": 1.0}, "hiring": {"w:hire": 1.5}},
        )
        found = features(["oh", "hire", "me", "now", "please"], LEXICON)
        assert model.score(found) == 2.25
        assert model.asks(found)
        assert model.act(found) == "hiring"
        assert model.telling(found, 5) == (1, 2)  # "hire me"
        assert not model.asks(features(["please"], LEXICON))

    def test_act_ties_go_to_the_first_act_by_name(self) -> None:
        model = Model({"bias": 1.0}, 0.0, {"zeta": {}, "alpha": {}})
        assert model.act(features(["x"], LEXICON)) == "alpha"


class TestTheCheck:
    @pytest.mark.parametrize("sentence", CLASSIFIER_ASKS)
    def test_the_classifier_catches_what_the_phrasebook_does_not(self, sentence: str) -> None:
        assert PHRASEBOOK.find(sentence) is None
        found = find_job_ask(sentence)
        assert found is not None, sentence
        assert found.pattern == ""  # no phrase of the phrasebook: the classifier's finding
        assert found.phrase and found.phrase in sentence
        assert sentence[found.start : found.end] == found.phrase
        assert len(found.phrase.split()) <= job_ask_model.PHRASE_WORDS
        assert found.sentence == sentence
        assert found.why.endswith(".") and found.suggestion.endswith("?")

    def test_the_finding_is_quoted_as_written(self) -> None:
        text = "Hello! I\u2019D LOVE to be on your  TEAM one day. Best, Ana"
        found = find_job_asks(text, limit=5)
        assert len(found) == 1
        ask = found[0]
        assert text[ask.start : ask.end] == ask.phrase
        assert ask.sentence == "I\u2019D LOVE to be on your  TEAM one day."

    def test_the_phrasebook_s_negation_wins(self) -> None:
        sentence = "I am not hoping you will find me a role on your team."
        sentence_words = words(sentence)
        model = classifier()
        assert model.asks(features(sentence_words, LEXICON))  # alone it would refuse
        assert find_job_ask(sentence) is None  # but a phrase it matches is negated

    def test_the_phrasebook_s_exemptions_win(self) -> None:
        book = job_ask.parse_phrasebook(
            "negate: not\nunless: how (do|does)\nabout openings\n@role = (role|job)\n"
        )
        assert book.find("How do people hear about openings") is None
        readings = list(book.readings("How do people hear about openings? Tell me about roles."))
        assert readings[0].decided and readings[0].ask is None  # exempt: the classifier is not
        assert not readings[1].decided  # asked; no phrase matches here: it is
        assert [name for name, _ in book.classes] == ["role"]

    def test_two_neighbouring_sentences_are_read_as_one(self) -> None:
        text = "Is the brewery taking on cellar hands this spring? I would be keen."
        model = classifier()
        sentences = [words(part) for part in text.split("? ")]
        assert not any(model.asks(features(s, LEXICON)) for s in sentences)  # neither alone
        assert model.asks(features(sentences[0] + sentences[1], LEXICON), pair=True)
        found = find_job_asks(text, limit=5)
        assert len(found) == 1
        assert found[0].pattern == "" and found[0].sentence == text
        assert text[found[0].start : found[0].end] == found[0].phrase

    def test_two_ordinary_sentences_pass_together(self) -> None:
        assert find_job_asks("Thanks for the chat on Friday. See you at the fair!", limit=5) == []

    def test_the_phrasebook_alone_is_still_the_phrasebook(self) -> None:
        sentence = CLASSIFIER_ASKS[0]
        assert PHRASEBOOK.find_all(sentence, limit=5) == []
        assert len(find_job_asks(sentence, limit=5)) == 1


# Letters of 50,000 characters built to keep the classifier busy: long sentences the
# phrasebook leaves open, full of the words its classes are made of, or nothing but sentences.
ADVERSARIAL = [
    ("could you a new role team resume recruiter " * 1200)[:50_000],
    ("role team hr cv? " * 3000)[:50_000],
    ("a " * 25_000)[:50_000],
    "x" * 50_000,
    ("I'd love to be on your team one day. " * 1400)[:50_000],
]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=["classes", "sentences", "words", "word", "asks"])
def test_the_check_stays_linear(text: str) -> None:
    """Four times the letter costs about four times the work, measured side by side; a
    quadratic step would cost sixteen times."""
    assert len(text) == 50_000
    find_job_asks(text, limit=20)  # warm
    quarter = text[:12_500]
    whole, part = least_cpu_times(
        lambda: find_job_asks(text, limit=20), lambda: find_job_asks(quarter, limit=20)
    )
    assert whole < 8 * part + 0.01, (whole, part)


def test_a_long_sentence_costs_the_classifier_linear_time() -> None:
    model = classifier()
    short = words("could you find me a role on your team " * 100)
    long = short * 10
    timings = []
    for sentence in (short, long):
        best = float("inf")
        for _ in range(3):
            started = time.thread_time()
            found = features(sentence, LEXICON)
            model.telling(found, len(sentence))
            model.score(found)
            best = min(best, time.thread_time() - started)
        timings.append(best)
    assert timings[1] < 30 * timings[0], timings  # ten times the words: about ten times the work
