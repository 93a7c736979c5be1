"""The answers, one table per question, that open REPORT.md and the notebook: pure functions
over comparisons.csv rows (inr.report.comparisons.ComparisonRow).

A question's rows are its comparisons: each (setting, metric) its configurations were compared
on. Where the sweep pooled across images (rows of image 'all'), a row reads the pooled tests and
counts the images that voted; with one image it reads that image's tests. In each comparison the
configuration ahead of every other it was compared with (else: ahead of the most) leads, and
the row gives it against its closest rival (the test with the largest Holm p): the effect with
its 95% interval, the prediction interval for a new image where pooled, and on how many images
it was ahead ("k of n images (separated on j)"). The last column sets the comparison against
the original project's claim where it made one: (a) SIREN beats ELU, (b) the learning rates,
(c) its best weights (1, 0.01, 0.001, 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import inr.report.wording as wording
from inr.report.comparisons import ComparisonRow, flipped
from inr.report.rows import weights_text
from inr.vocabulary import ORIGINAL_BEST, PIXEL_ONLY, REFERENCE_WEIGHTS, Question

QUESTION_TITLES = {
    Question.ACTIVATION: "Which activation (each at its tuned scale)?",
    Question.LEARNING_RATE: "Which schedule (each at its tuned learning rate)?",
    Question.WEIGHTS: "Which loss weights (pixel, grad, laplacian, dt)?",
    Question.PIXEL_LOSS: "Which pixel loss (each at its tuned weight)?",
    Question.POISSON: "Poisson reconstruction: from the gradient alone, from the Laplacian "
                      "alone (each activation at its tuned scale)?"}
HEADER = ["question", "answer", "effect [95% CI]", "images", "the original's claim"]
NO_CLAIM = "—"


# the reference vectors' labels, as contrasts.cross_key gives a weight vector's
ORIGINAL_LABEL = weights_text(REFERENCE_WEIGHTS[ORIGINAL_BEST])
PIXEL_ONLY_LABEL = weights_text(REFERENCE_WEIGHTS[PIXEL_ONLY])


@dataclass(frozen=True)
class Answer:
    """One row of an answer table (HEADER): what was asked, the answer in words, the leader's
    effect against its closest rival, the image votes, and the verdict on the original's
    claim (NO_CLAIM where it made none)."""
    question: str
    answer: str
    effect: str
    images: str
    original: str = NO_CLAIM

    def cells(self) -> list[str]:
        return [self.question, self.answer, self.effect, self.images, self.original]


def _name(row: ComparisonRow, side: str, names: dict[tuple[str, str], str]) -> str:
    """How the report names a side: names[(question, configuration)], else its label."""
    return names.get((row.question, getattr(row, side)), getattr(row, f"{side}_label"))


def leader(group: list[ComparisonRow]) -> str:
    """The label ahead in every comparison it takes part in (several such: the most wins;
    none: the best wins less losses), first-seen order breaking ties."""
    labels = list(dict.fromkeys(x for r in group for x in (r.a_label, r.b_label)))
    wins = dict.fromkeys(labels, 0)
    losses = dict.fromkeys(labels, 0)
    for r in group:
        ahead = wording.ahead_label(r)
        if ahead is not None:
            wins[ahead] += 1
            losses[r.b_label if ahead == r.a_label else r.a_label] += 1
    return max(labels, key=lambda x: (losses[x] == 0, wins[x] - losses[x], wins[x]))


def as_a(rows: list[ComparisonRow], label: str) -> list[ComparisonRow]:
    """The rows that compare `label`, each read with it as a."""
    return [r if r.a_label == label else flipped(r) for r in rows
            if label in (r.a_label, r.b_label)]


def _holm(row: ComparisonRow) -> float:
    return row.p_holm if math.isfinite(row.p_holm) else math.inf


def _votes(per_image: list[ComparisonRow], first: str, second: str, kind: str) -> str:
    """'k of n images (separated on j)' for `first` against `second`."""
    own = as_a([r for r in per_image if {r.a_label, r.b_label} == {first, second}], first)
    ahead = [r for r in own if wording.a_ahead(r)]
    return wording.images_text(len(ahead), len(own), sum(r.separated for r in ahead), kind)


def _original_claim(question: str, group: list[ComparisonRow]) -> str:
    """The verdict on the original's claim that a comparison of `group` tests: (a) on the
    sine-ELU test, (c) on the test of its best weights against the group's leader."""
    if question == Question.ACTIVATION:
        duel = as_a([r for r in group if {r.a_label, r.b_label} == {"sine", "elu"}], "sine")
        return f"(a) SIREN beats ELU: {wording.claim_word(duel[0])}" if duel else NO_CLAIM
    if question == Question.WEIGHTS:
        top = leader(group)
        if top == ORIGINAL_LABEL:
            closest = max(as_a(group, ORIGINAL_LABEL), key=_holm)
            return f"(c) best weights: {wording.claim_word(closest)}"
        duel = as_a([r for r in group if {r.a_label, r.b_label} == {top, ORIGINAL_LABEL}],
                    ORIGINAL_LABEL)
        return f"(c) best weights: {wording.claim_word(duel[0])}" if duel else NO_CLAIM
    return NO_CLAIM


def comparison_answer(question: str, group: list[ComparisonRow], per_image: list[ComparisonRow],
                      names: dict[tuple[str, str], str], kind: str) -> Answer:
    """The Answer of one (setting, metric) comparison: `group` the tests that speak for it
    (pooled, or one image's), `per_image` the question's tests image by image (for the votes;
    empty with one image); names: (question, configuration) -> how the report names it."""
    first = group[0]
    top = leader(group)
    mine = as_a(group, top)
    display = {r.b_label: _name(r, "b", names) for r in mine}
    top_name = _name(mine[0], "a", names)
    asked = (f"trained on {first.setting}: " if first.setting else "") + first.metric
    if all(r.exploratory for r in mine):
        answer = f"{top_name} ahead (exploratory: chosen on the seeds that test it)"
    else:
        parts = [f"{top_name} ahead"]
        separated = [display[r.b_label] for r in mine if r.separated and wording.a_ahead(r)]
        open_ = [display[r.b_label] for r in mine if not r.separated and wording.a_ahead(r)]
        behind = [display[r.b_label] for r in mine if wording.a_ahead(r) is False]
        if separated:
            parts.append("separated from " + ", ".join(separated))
        if open_:
            parts.append("not separated from " + ", ".join(open_))
        if behind:
            parts.append("behind " + ", ".join(behind))
        answer = "; ".join(parts)
    closest = max(mine, key=_holm)
    effect = f"vs {display[closest.b_label]}: {wording.effect_text(closest)}"
    new_image = wording.prediction_text(closest)
    if new_image:
        effect += f"; a new image: {new_image}"
    same = [r for r in per_image if (r.setting, r.metric) == (first.setting, first.metric)]
    if same:
        images = _votes(same, top, closest.b_label, kind)
    else:
        images = f"{first.image or 'one image'} only"
    return Answer(asked, answer, effect, images, _original_claim(question, group))


def _per_image_answer(asked: str, rows: list[ComparisonRow], names: dict[tuple[str, str], str],
                      kind: str, claim: str = "") -> Answer:
    """An Answer read from per-image tests that are not pooled (the original's lr claims,
    dominance, non-inferiority): shown (separated) on how many images, for which sides."""
    images = list(dict.fromkeys(r.image for r in rows))
    shown = [r for r in rows if r.separated]
    shown_images = list(dict.fromkeys(r.image for r in shown))
    if rows[0].kind == "t":
        words = [wording.claim_word(r) for r in rows]
        agree, differ = words.count(wording.AGREES), words.count(wording.DIFFERS)
        answer = (f"separated on {agree + differ} of {len(images)}: agrees on {agree}, "
                  f"differs on {differ}")
        verdict = wording.tally(agree, differ)
    elif rows[0].kind == "dominance":  # a claim of the original's best: shown is against it
        sides = list(dict.fromkeys(_name(r, "a", names) for r in shown))
        answer = ("shown for " + ", ".join(sides)) if sides else \
            f"not shown for any of {len({r.a_label for r in rows})}"
        verdict = wording.tally(0, len(shown))
    else:  # non-inferiority, one vector
        power = [r.power for r in rows if math.isfinite(r.power)]
        answer = ("shown" if shown else "not shown") + (
            f" (power {min(power):.0%} were they equal)" if len(power) == 1 else "")
        verdict = ""
    effect = wording.effect_text(rows[0]) if len(rows) == 1 else NO_CLAIM
    if rows[0].kind == "dominance" and len(rows) == 1:
        effect = f"{rows[0].metric.split('+')[0]}: {effect}"
    votes = f"{len(shown_images)} of {len(images)} {kind}" if len(images) > 1 else \
        f"{images[0] or 'one image'} only"
    original = f"{claim}: {verdict}" if claim and verdict else claim or NO_CLAIM
    return Answer(asked, answer, effect, votes, original)


def question_answers(rows: list[ComparisonRow], question: str, names: dict[tuple[str, str], str],
                     kind: str = "images") -> list[Answer]:
    """The Answers of one question, from all of comparisons.csv's rows; `kind` names the
    images the votes count ('held-out images')."""
    own = [r for r in rows if r.question == question and not r.original]
    pooled = [r for r in own if r.pooled and r.kind == "t"]
    per_image = [r for r in own if not r.pooled and r.kind == "t"]
    answers = []
    if pooled:
        groups = _groups(pooled)
        votes = [r for r in per_image if not r.exploratory]
    else:
        groups = _groups(per_image, by_image=len({r.image for r in per_image}) > 1)
        votes = []
    for group in groups.values():
        answers.append(comparison_answer(question, group, votes, names, kind))
    if question == Question.WEIGHTS:
        dominance = [r for r in own if r.kind == "dominance"]
        if dominance:
            answers.append(_per_image_answer(
                f"better than {ORIGINAL_LABEL} on both psnr and grad_mse", dominance, names,
                kind, "(c) best weights"))
        for label in dict.fromkeys(r.a_label for r in own if r.kind == "noninferiority"):
            tests = [r for r in own if r.kind == "noninferiority" and r.a_label == label]
            answers.append(_per_image_answer(
                f"{_name(tests[0], 'a', names)} loses less than {tests[0].margin:g} dB of psnr "
                f"against {PIXEL_ONLY_LABEL}", tests, names, kind))
    if question == Question.LEARNING_RATE:
        claims = [r for r in rows if r.original and r.question == question]
        for note in dict.fromkeys(r.note for r in claims):
            tests = [r for r in claims if r.note == note]
            answers.append(_per_image_answer(f"(b) {note}", tests, names, kind,
                                             "(b) the original's lr claim"))
    return answers


def _groups(rows: list[ComparisonRow], by_image: bool = False
            ) -> dict[tuple, list[ComparisonRow]]:
    groups: dict[tuple, list[ComparisonRow]] = {}
    for r in rows:
        groups.setdefault((r.image if by_image else "", r.setting, r.metric), []).append(r)
    return groups
