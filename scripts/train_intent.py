"""Train the intent model (src/anmeldung/intent_model.json) from the labelled folders.

    .venv/bin/python scripts/train_intent.py          # train on TRAINING, write the model
    .venv/bin/python scripts/train_intent.py --cv     # also print leave-one-folder-out figures

Only folders that have been tuned on belong in TRAINING: a blind held-out set that the model
has learned from stops measuring unseen mail (see tests/heldout12/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from anmeldung.accuracy import OWN_ADDRESSES, _own_message_id
from anmeldung.classify import ClassifyContext, Incoming, classify
from anmeldung.intent import MODEL_FILE, Example, cross_validate, train
from anmeldung.parse import parse_message_tree

ROOT = Path(__file__).resolve().parents[1]
# heldout18 and later blind sets stay out until they have been tuned on.
TRAINING = ["labelled", "heldout"] + [f"heldout{i}" for i in (*range(2, 18), *range(19, 37))]
# The decision the model is asked for: registration or not, where the rules looked for intent.
DECIDED_BY_INTENT = {"registration", "no_intent"}


def examples(folder: Path) -> list[tuple[str, Example]]:
    """(file, example): every message the intent rules decide, labelled registration or other
    (``asked``), and the folder's other mail that registers nobody as further negatives."""
    ctx = ClassifyContext(
        own_addresses=OWN_ADDRESSES, is_own_message_id=_own_message_id, intent_model=None
    )
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    found = []
    for name in sorted(expected):
        label = expected[name]["kind"]
        if label == "cancellation":
            continue  # registration words, other intent: neither class
        raw = (folder / name).read_bytes()
        parsed, tree = parse_message_tree(raw)
        reason = classify(parsed, ctx, raw=raw, stdlib=tree).reason
        asked = reason in DECIDED_BY_INTENT and label in ("registration", "other")
        if label == "registration" and not asked:
            continue  # decided by another rule (a reply to our mail, a substitute)
        inc = Incoming(parsed, raw, tree)
        subject = parsed.subject or ""
        found.append((name, Example(subject, inc.unquoted, label == "registration", asked)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cv", action="store_true", help="print cross-validated figures")
    parser.add_argument("--output", type=Path, default=MODEL_FILE)
    args = parser.parse_args(argv)
    groups = [(name, examples(ROOT / "tests" / name)) for name in TRAINING]
    everything = [e for _, found in groups for _, e in found]
    model = train(everything)
    meta: dict[str, object] = {
        "trained_on": TRAINING,
        "examples": len(everything),
        "registrations": sum(e.registers for e in everything),
    }
    if args.cv:
        cv = cross_validate(groups)
        for threshold in (0.0, 1.0, 2.0, 3.0):
            hit, total = cv.recall(threshold)
            wrong, others = cv.false_accepts(threshold)
            print(
                f"accept > {threshold:4.1f}: registrations {hit}/{total}, others {wrong}/{others}"
            )
        for threshold in (-3.0, -4.0, -5.0, -6.0, -8.0):
            lost, total = cv.vetoed_registrations(threshold)
            caught = sum(1 for _, reg, score in cv.scores if not reg and score < threshold)
            others = sum(1 for _, reg, _ in cv.scores if not reg)
            print(
                f"veto < {threshold:5.1f}: registrations lost {lost}/{total},"
                f" others {caught}/{others}"
            )
        hit, total = cv.recall(model.accept)
        wrong, others = cv.false_accepts(model.accept)
        lost, _ = cv.vetoed_registrations(model.veto)
        meta["cross_validation"] = {
            "accept_recall": f"{hit}/{total}",
            "accept_false": f"{wrong}/{others}",
            "veto_lost": f"{lost}/{total}",
        }
    model = type(model)(model.bias, model.weights, model.accept, model.veto, meta)
    args.output.write_text(
        json.dumps(model.to_json(), ensure_ascii=False, indent=0, sort_keys=False) + "\n",
        encoding="utf-8",
    )
    print(f"{args.output}: {len(model.weights)} weights from {len(everything)} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
