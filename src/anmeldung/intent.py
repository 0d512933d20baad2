"""Pure: how much a mail's own words read like a registration, by weights learned from labels.

The intent rules in classify.py know the phrases they were written for. People keep finding
new ones ("gerne nehmen wir die Einladung an", dialect, a sentence that only names who comes),
and rules written after reading failures generalised poorly to unseen mail. This model is the
second opinion: a logistic regression over the words and word pairs of the subject and the
unquoted head, trained on every labelled message whose rules reached the intent decision
(``scripts/train_intent.py`` writes ``intent_model.json``; the training folders are listed
there), with the folders' auto-replies, bounces and other robots' mail as further examples
of text that registers nobody, so that unrelated mail (a test message, a newsletter) stays
low. It decides only where the rules are weakest:

- no intent rule matched (``no_intent``): evidence above ``accept`` makes it a registration
  (the words' share of the score: unknown text must not pass on the prior alone);
- a plain ``registration`` match whose text reads strongly like a question or a thank-you
  (score below ``veto``): it goes to a person instead of being confirmed.

Both thresholds come from leave-one-folder-out cross-validation (printed by the script).
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

MODEL_FILE = Path(__file__).resolve().parent / "intent_model.json"
HEAD_CHARS = 1200  # what a person decides on is near the top; signatures and quotes add noise

_TOKEN = re.compile(r"[^\W\d_]+|\?")


def features(subject: str, text: str) -> list[str]:
    """Sorted distinct words and adjacent word pairs (lower-case) of subject and text head."""
    tokens = _TOKEN.findall(f"{subject}\n{text[:HEAD_CHARS]}".lower())
    found = set(tokens)
    found.update(f"{a}_{b}" for a, b in itertools.pairwise(tokens))
    return sorted(found)


@dataclass(frozen=True)
class IntentModel:
    bias: float
    weights: dict[str, float]
    accept: float = 2.0  # no rule matched, yet the text reads like a registration
    veto: float = -4.0  # a rule matched, yet the text reads like a question or thanks
    meta: dict[str, object] = field(default_factory=dict)

    def score(self, subject: str, text: str) -> float:
        """Log-odds that the mail registers somebody (positive: it does)."""
        return self.bias + self.evidence(subject, text)

    def evidence(self, subject: str, text: str) -> float:
        """The words' share of the score, without the prior: most mail the model is asked
        about registers somebody, so the bias alone leans to yes. A text the model knows
        nothing about ("a simple kind of mirror") has no evidence either way."""
        weights = self.weights
        return math.fsum(weights.get(f, 0.0) for f in features(subject, text))

    def to_json(self) -> dict[str, object]:
        return {
            "bias": round(self.bias, 6),
            "accept": self.accept,
            "veto": self.veto,
            "meta": self.meta,
            "weights": {k: round(v, 6) for k, v in sorted(self.weights.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> IntentModel:
        weights = data["weights"]
        assert isinstance(weights, dict)
        meta = data.get("meta", {})
        return cls(
            bias=float(data["bias"]),  # type: ignore[arg-type]
            weights={str(k): float(v) for k, v in weights.items()},
            accept=float(data.get("accept", 2.0)),  # type: ignore[arg-type]
            veto=float(data.get("veto", -4.0)),  # type: ignore[arg-type]
            meta=dict(meta) if isinstance(meta, dict) else {},
        )


@cache
def shipped_model() -> IntentModel:
    """The model trained on the labelled corpus, shipped inside the package."""
    return IntentModel.from_json(json.loads(MODEL_FILE.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Example:
    subject: str
    text: str
    registers: bool
    # False for mail the model learns from but is never asked about (auto-replies, bounces,
    # newsletters): they teach it what unrelated text looks like; cross-validation skips them.
    asked: bool = True


def train(
    examples: Sequence[Example],
    *,
    epochs: int = 30,
    rate: float = 0.2,
    l2: float = 1e-3,
    min_count: int = 2,
    seed: int = 1,
) -> IntentModel:
    """Logistic regression by stochastic gradient descent, classes weighted to equal mass.

    Deterministic for the same examples: features are sorted and the shuffle is seeded.
    Features seen in fewer than ``min_count`` examples are dropped (they only memorise).
    """
    rows = [(features(e.subject, e.text), 1.0 if e.registers else 0.0) for e in examples]
    counts: dict[str, int] = {}
    for feats, _ in rows:
        for f in feats:
            counts[f] = counts.get(f, 0) + 1
    rows = [([f for f in feats if counts[f] >= min_count], y) for feats, y in rows]
    positive = sum(1 for _, y in rows if y)
    negative = len(rows) - positive
    if not positive or not negative:
        raise ValueError("training needs registrations and other mail")
    # Few "other" mails against many registrations: weight both classes to the same mass.
    class_weight = {1.0: len(rows) / (2 * positive), 0.0: len(rows) / (2 * negative)}
    weights: dict[str, float] = {}
    bias = 0.0
    order = list(range(len(rows)))
    shuffle = random.Random(seed)  # noqa: S311 - a reproducible order, not a secret
    for _ in range(epochs):
        shuffle.shuffle(order)
        for i in order:
            feats, y = rows[i]
            z = bias + math.fsum(weights.get(f, 0.0) for f in feats)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            grad = (p - y) * class_weight[y]
            bias -= rate * grad
            for f in feats:
                w = weights.get(f, 0.0)
                weights[f] = w - rate * (grad + l2 * w)
    kept = {f: w for f, w in weights.items() if abs(w) >= 1e-4}
    return IntentModel(bias=bias, weights=kept)


@dataclass(frozen=True)
class CrossValidation:
    """Leave-one-group-out scores: each example scored by a model that never saw its group."""

    scores: list[tuple[str, bool, float]]  # (name, registers, score)
    evidence: list[float] = field(default_factory=list)  # the same without the bias

    def recall(self, threshold: float) -> tuple[int, int]:
        """Registrations whose evidence passes ``threshold`` (what no_intent accepts)."""
        hits = [
            e > threshold for (_, reg, _), e in zip(self.scores, self.evidence, strict=True) if reg
        ]
        return sum(hits), len(hits)

    def false_accepts(self, threshold: float) -> tuple[int, int]:
        hits = [
            e > threshold
            for (_, reg, _), e in zip(self.scores, self.evidence, strict=True)
            if not reg
        ]
        return sum(hits), len(hits)

    def vetoed_registrations(self, threshold: float) -> tuple[int, int]:
        hits = [s < threshold for _, reg, s in self.scores if reg]
        return sum(hits), len(hits)


def cross_validate(
    groups: Iterable[tuple[str, Sequence[tuple[str, Example]]]], **options: float
) -> CrossValidation:
    """Train without each group in turn and score that group's examples."""
    groups = list(groups)
    scores: list[tuple[str, bool, float]] = []
    evidence: list[float] = []
    for name, held in groups:
        rest = [e for other, examples in groups if other != name for _, e in examples]
        model = train(rest, **options)  # type: ignore[arg-type]
        for file, e in held:
            if not e.asked:
                continue
            scores.append((f"{name}/{file}", e.registers, model.score(e.subject, e.text)))
            evidence.append(model.evidence(e.subject, e.text))
    return CrossValidation(scores, evidence)
