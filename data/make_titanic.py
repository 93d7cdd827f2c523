"""Writes titanic_train.csv and titanic_eval.csv: synthetic rows with the
columns and distributions of the Titanic CSVs that tf's guides download.

Nothing is downloaded: passengers are drawn (seeded) from the published
marginals of the real data (class 55% Third, 24% First, 21% Second; women
44%, 41% and 29% of them, 35% overall; embarkation 72% Southampton, 19% Cherbourg, 9% Queenstown; ages
around 29 with missing ages recorded as 28, as in tf's copy; family sizes,
fares and decks by class), and survival from the real rates by sex and class
(women 97/92/50%, men 37/16/14% in First/Second/Third), with children more
likely to survive. 627 training and 264 evaluation rows, as tf's files.

    python data/make_titanic.py            # rewrites data/titanic_*.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

COLUMNS = [
    "survived",
    "sex",
    "age",
    "n_siblings_spouses",
    "parch",
    "fare",
    "class",
    "deck",
    "embark_town",
    "alone",
]
SURVIVAL = {  # P(survived | sex, class), the real data's rates
    ("female", "First"): 0.97,
    ("female", "Second"): 0.92,
    ("female", "Third"): 0.50,
    ("male", "First"): 0.37,
    ("male", "Second"): 0.16,
    ("male", "Third"): 0.14,
}
FEMALE = {"First": 0.44, "Second": 0.41, "Third": 0.29}  # P(female | class)
FARE = {"First": (4.2, 0.6), "Second": (2.9, 0.4), "Third": (2.45, 0.45)}  # lognormal
DECKS = {
    "First": (
        ["unknown", "C", "B", "D", "E", "A"],
        [0.18, 0.28, 0.22, 0.14, 0.11, 0.07],
    ),
    "Second": (["unknown", "D", "E", "F"], [0.91, 0.03, 0.03, 0.03]),
    "Third": (["unknown", "F", "G", "E"], [0.97, 0.01, 0.01, 0.01]),
}


def passengers(rows: int, rng: np.random.Generator) -> list[list[object]]:
    table = []
    for _ in range(rows):
        klass = str(rng.choice(["Third", "First", "Second"], p=[0.55, 0.24, 0.21]))
        sex = "female" if rng.random() < FEMALE[klass] else "male"
        if rng.random() < 0.2:
            age = 28.0  # tf's copy fills missing ages with 28
        else:
            age = float(
                np.clip(rng.normal(30 if klass != "Third" else 25, 14), 0.75, 80)
            )
            age = round(age) if age >= 1 else round(age, 2)
        siblings = int(rng.choice(range(6), p=[0.68, 0.23, 0.03, 0.02, 0.02, 0.02]))
        parch = int(rng.choice(range(4), p=[0.76, 0.13, 0.09, 0.02]))
        mean, spread = FARE[klass]
        fare = round(float(rng.lognormal(mean, spread)) * (1 + 0.15 * parch), 4)
        decks, weights = DECKS[klass]
        deck = str(rng.choice(decks, p=weights))
        town = rng.choice(
            ["Southampton", "Cherbourg", "Queenstown", "unknown"],
            p=[0.717, 0.19, 0.09, 0.003],
        )
        chance = SURVIVAL[(sex, klass)]
        if age < 10:
            chance = min(chance + 0.35, 0.97)
        survived = int(rng.random() < chance)
        alone = "y" if siblings + parch == 0 else "n"
        table.append(
            [survived, sex, age, siblings, parch, fare, klass, deck, town, alone]
        )
    return table


def write(path: Path, rows: list[list[object]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=1912)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    write(args.out / "titanic_train.csv", passengers(627, rng))
    write(args.out / "titanic_eval.csv", passengers(264, rng))


if __name__ == "__main__":
    main()
