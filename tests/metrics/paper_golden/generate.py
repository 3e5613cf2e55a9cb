"""Synthetic data in the authors' tau-usi layout, for the paper-mode differential test.

SYNTHETIC: every conversation, reward and survey answer here is generated from fixed phrase
lists by a seeded `random.Random`; none of it comes from people.

`write_dataset(root, seed)` writes, under `root`:

* `data/tau_bench_tasks_unified.json`: three batches of "people" (`<task>`, `<task>_ann2`,
  `<task>_ann3`), with excluded entries (`keep` false or null), blank / unknown / inexact
  survey answers, a person who answered nothing, tasks only some batches have;
* `data/survey_data/survey_comparable_<model>.json` for three of the four simulators (one per
  batch: no suffix, `_ann2`, `_ann3`), with blank fields, missing entries, an entry without a
  `survey`, a survey for a run that does not exist;
* `data/survey_data/survey_comparable_human-eval-100.json` (odd seeds): a second person's
  answers on batch-1 conversations, in shuffled order, with blanks and entries the scorer
  ignores;
* `results/<model>_task_results.json` (three 3-run simulators, > 170 entries each, as the
  scorer needs to split runs) and `results/eval_results_<model>.json` (a 1-run simulator);
* `data/difficulty_edges.json`: a frozen difficulty map with values on the bin edges.

Edge cases built in: a task no one solves, tasks on one side only, a task outside the paper's
165, turns ending in `###STOP###`, `###STOP###` / `###TRANSFER###` alone, empty and
markup-only turns, the people's interface commands, a survey field everyone answers alike
(`human_like` = "Yes"), reward 0.5 and null, trigrams repeated more than 10 times. With four
simulators of 3 + 3 + 3 + 1 runs every task the four share has 10 pooled runs, so the pooled
difficulty (≥ 10 runs, as the paper) lands on the bin edges 0.2/0.4/0.6/0.8 often.

Run: `python tests/metrics/paper_golden/generate.py OUT_DIR --seed N` (stdlib only).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

MODELS_3RUN = ("simA", "simB", "simC")
MODEL_1RUN = "simD"
MODELS = (*MODELS_3RUN, MODEL_1RUN)
NO_SURVEY_MODEL = "simC"  # scored without a survey file: Eval n/a

FIELDS: dict[str, list[str]] = {
    "task_success": [
        "No - Task failed",
        "No - Due to a policy issue, which the agent clearly explained",
        "Partially - Some progress",
        "Yes - Task completed",
        "Fully - Exceeded expectations",
    ],
    "efficiency": [
        "Very inefficient - Too many steps",
        "Somewhat inefficient",
        "About right",
        "Very efficient",
    ],
    "question_amount_preference": ["Too many", "About right", "Too few"],
    "answer_effort_time": ["High", "Medium", "Low"],
    "human_like": ["No", "Partially", "Yes"],
    "interaction_flow": ["Not smooth", "OK", "Smooth", "Excellent"],
    "overall_score": [
        "1 (Very poor)",
        "2 (Poor)",
        "3 (Acceptable)",
        "4 (Good)",
        "5 (Excellent)",
    ],
    "reuse": ["Absolutely no", "No", "Maybe", "Yes", "Absolutely yes"],
}

# User phrases, each hitting one or more of the 19 features' patterns (or none).
PHRASES = [
    "hi, i need to cancel my reservation please",
    "thanks so much",
    "ok",
    "yes",
    "sounds good!",
    "my user id is mia_li_3668 and the order is #W4817420",
    "the email is noah.brown@example.com",
    "i think it was last tuesday, not sure though",
    "maybe the one to boston? i don't remember",
    "definitely the cheaper one, of course",
    "are you sure? i already told you the date",
    "that's wrong, check again",
    "why can't you refund it",
    "what do you mean by basic economy?",
    "i don't understand, which one is which",
    "sorry, what was the total?",
    "how much is the change fee",
    "can you check the status of my order",
    "when will the refund arrive",
    "i'm really frustrated and upset about this",
    "this is ridiculous and unacceptable, it's your fault",
    "ugh, terrible service",
    "actually could we switch to the window seat instead",
    "what if i pay with the gift card",
    "how about a different flight",
    "let me check my account",
    "would you like me to confirm",
    "i apologize for the inconvenience",
    "your order is ready",
    "i'd like to exchange the shoes \u2014 the red ones",
    "great \u2013 that works",
    "please go ahead and book it",
    "i want to return item 1234567 and 7654321 via paypal_7732",
    "the card is credit_card_4421 and gift_card_1199",
    "could you just do it now",
    "no",
    "",
    "   ",
    "<|think|>the user wants a refund<|/think|>",
    '<function=get_order>{"id": 1}</function> please',
]
ENDINGS = ["thanks, bye ###STOP###", "###STOP###", "ok ###STOP###", "###TRANSFER###"]
HUMAN_META = ["\\tau next", "\\reward", "<|survey|> done", "/stop", " /stop ", "<|canvas|>x"]
REPEAT = "i want a refund i want a refund i want a refund i want a refund"
AGENT = [
    "Hello! How can I help you today?",
    "Could you give me your user id?",
    "I have cancelled it. Anything else?",
    "I'm sorry, that fare is not refundable.",
]


def _conversation(rng: random.Random, *, human: bool) -> list[dict[str, str]]:
    conv: list[dict[str, str]] = [{"role": "assistant", "content": AGENT[0]}]
    n = rng.randint(1, 7)
    for i in range(n):
        r = rng.random()
        if r < 0.04:
            text = REPEAT  # with enough turns, trigrams repeat more than 10 times
        elif human and r < 0.10:
            text = rng.choice(HUMAN_META)
        else:
            text = rng.choice(PHRASES)
            if rng.random() < 0.3:
                text = f"{text} {rng.choice(PHRASES)}".strip()
        conv.append({"role": "user", "content": text})
        if rng.random() < 0.3:
            conv.append({"role": "system", "content": '{"status": "ok"}'})
        conv.append({"role": "assistant", "content": rng.choice(AGENT)})
        if i == n - 1 and rng.random() < 0.5:
            end = rng.choice(ENDINGS) if not human else rng.choice(["bye", "/stop", "thanks"])
            conv.append({"role": "user", "content": end})
    if rng.random() < 0.05:
        # a conversation whose only user message is a control token / interface command
        conv = [conv[0], {"role": "user", "content": "###STOP###" if not human else "/stop"}]
    return conv


def _survey(rng: random.Random, *, blank_rate: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, options in FIELDS.items():
        r = rng.random()
        if field == "human_like":
            out[field] = {"question": "?", "answer": "Yes"}  # everyone answers alike
        elif r < blank_rate:
            continue  # blank
        elif r < blank_rate + 0.03:
            out[field] = {"question": "?", "answer": rng.choice(["no answer", "Brilliant", ""])}
        elif field == "overall_score" and r < blank_rate + 0.06:
            out[field] = {"question": "?", "answer": str(rng.randint(1, 5))}  # inexact label
        else:
            out[field] = {"question": "?", "answer": rng.choice(options)}
    return out


def _reward(rng: random.Random, p: float, *, null_ok: bool = False) -> float | None:
    """0/1 by `p`; now and then 0.5 (a success for the scorer: reward > 0) and, where the
    scorer reads it without crashing (a rollout's `*_task_results.json`), null."""
    r = rng.random()
    if r < 0.03:
        return None if null_ok else 0.0
    if r < 0.06:
        return 0.5
    return 1.0 if rng.random() < p else 0.0


def _tasks(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    """(tasks both sides have, people-only tasks, simulator-only tasks); keys `airline_12`."""
    paper = [f"airline_{i}" for i in range(50)] + [f"retail_{i}" for i in range(115)]
    pick = rng.sample(paper, 64)
    shared = [*pick[:60], "retail_500"]  # retail_500: outside the paper's frozen map
    return shared, pick[60:62], pick[62:64]


def write_dataset(root: Path, seed: int) -> dict[str, Any]:
    """Write one synthetic data set; returns what was written (for the golden file)."""
    rng = random.Random(seed)
    data, results, surveys = root / "data", root / "results", root / "data" / "survey_data"
    for d in (data, results, surveys):
        d.mkdir(parents=True, exist_ok=True)
    shared, people_only, sim_only = _tasks(rng)
    unsolved = shared[0]  # nobody succeeds on it
    p_task = {t: rng.choice([0.1, 0.3, 0.5, 0.7, 0.9]) for t in shared + people_only + sim_only}

    people: dict[str, Any] = {}
    for t in shared + people_only:
        for suffix in ("", "_ann2", "_ann3"):
            if rng.random() < 0.04:
                continue  # this batch has no one on the task
            r = rng.random()
            entry: dict[str, Any] = {
                # labels these stand-ins as synthetic in simgap (the scorer ignores the field)
                "user_id": f"synthetic-person-{len(people) + 1}",
                "conversation": _conversation(rng, human=True),
                "survey": {} if r < 0.03 else _survey(rng, blank_rate=0.08),
                "reward": 0.0 if t == unsolved else _reward(rng, p_task[t]),
            }
            if r > 0.97:
                entry["keep"] = rng.choice([False, None])
            elif r > 0.5:
                entry["keep"] = True
            people[f"{t}{suffix}"] = entry
    (data / "tau_bench_tasks_unified.json").write_text(json.dumps(people, indent=1))

    for m in MODELS:
        runs = 3 if m in MODELS_3RUN else 1
        skill = rng.uniform(-0.2, 0.2)
        records = []
        for t in shared + sim_only:
            for run in range(1, runs + 1):
                if runs == 3 and rng.random() < 0.02:
                    continue  # a run that did not finish this task
                iid = f"{t}_{run}" if runs == 3 else t
                p = min(1.0, max(0.0, p_task[t] + skill))
                rec: dict[str, Any] = {
                    "instance_id": iid,
                    "conversation": _conversation(rng, human=False),
                    "reward": 0.0 if t == unsolved else _reward(rng, p, null_ok=runs == 3),
                    "termination_reason": "user_stop",
                    # surveys inside the runs file: the scorer never reads them
                    "survey": _survey(rng, blank_rate=0.0),
                }
                if rng.random() < 0.03:
                    rec["keep"] = False
                records.append(rec)
        if runs == 3:
            payload: Any = {"benchmark": "tau_usi", "user_sim_model": m, "results": records}
            (results / f"{m}_task_results.json").write_text(json.dumps(payload, indent=1))
        else:
            flat = {r.pop("instance_id"): r for r in records}
            (results / f"eval_results_{m}.json").write_text(json.dumps(flat, indent=1))
        if m == NO_SURVEY_MODEL:
            continue
        sv: dict[str, Any] = {}
        for t in shared + sim_only + people_only[:1]:  # one survey for a task it never ran
            for suffix in ("", "_ann2", "_ann3"):
                r = rng.random()
                if r < 0.05:
                    continue
                sv[f"{t}{suffix}"] = {} if r < 0.07 else {"survey": _survey(rng, blank_rate=0.25)}
        (surveys / f"survey_comparable_{m}.json").write_text(json.dumps(sv, indent=1))

    if seed % 2 == 1:
        b1 = [t for t in shared + people_only if t in people]
        rng.shuffle(b1)
        second = {t: {"survey": _survey(rng, blank_rate=0.2)} for t in b1[:40]}
        second[f"{shared[1]}_ann2"] = {"survey": _survey(rng, blank_rate=0.0)}  # ignored
        second["retail_999"] = {"survey": _survey(rng, blank_rate=0.0)}  # no such conversation
        name = "survey_comparable_human-eval-100.json"
        (surveys / name).write_text(json.dumps(second, indent=1))

    edges = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 0.19999, 0.59999, 0.8000001]
    difficulty = {t: rng.choice(edges) for t in shared + people_only + sim_only}
    (data / "difficulty_edges.json").write_text(json.dumps({"difficulty": difficulty}, indent=1))
    return {
        "seed": seed,
        "shared_tasks": len(shared),
        "people_only_tasks": len(people_only),
        "simulator_only_tasks": len(sim_only),
        "unsolved_task": unsolved,
        "people_entries": len(people),
        "second_rater": seed % 2 == 1,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, required=True)
    args = ap.parse_args()
    print(json.dumps(write_dataset(args.out, args.seed)))


if __name__ == "__main__":
    main()
