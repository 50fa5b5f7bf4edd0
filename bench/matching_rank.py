"""Ranking one free place among N active requests and 500 facilities (target: p95 under 50 ms at 100k).

    .venv/bin/python bench/matching_rank.py [--requests 100k] [--places 2000] [--trace-sample 100k] [--gc-freeze]

--requests takes 10k, 100k, 1m or a plain number. The script generates 500 facilities and N active
requests (deterministic seed), builds the read model the ranking needs (`matching.index.
CandidateIndex`: requests by chosen facility plus the urgent list), then ranks --places random free
places, each one end to end: candidates_for(facility) -> rank(...) with the facility's rule set.
It prints the index build time, the memory of the read model and the ranking time percentiles.
Memory: tracemalloc while generating up to --trace-sample requests and indexing them (tracing makes
allocation about 10 times slower, so 1M requests are traced as a 100k sample and scaled), and, as a
check, the growth of the process RSS while the untraced full read model is built.

Generated data, chosen to be harder than average rather than easier:
- facility popularity is skewed (weight 1/(rank+20)), so a few facilities are chosen by 3-4 times
  the average number of requests; places are drawn uniformly over facilities;
- each request chooses 1 to 5 facilities (mean 3), 1 % are urgent and so are candidates everywhere;
- desired start dates spread over 18 months, care plans of 2 to 5 days (a fifth with half days),
  80 % of facilities kg-2013 and 20 % kg-2024, 80 % with an income-related tariff.
"""
import argparse
import gc
import os
import random
import statistics
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone

from matching.index import CandidateIndex
from matching.model import Candidate, Facility, FreePlace, Occupancy, Priority
from matching.ranking import rank
from matching.rulesets import load_rule_sets

FACILITIES = 500
TODAY = date(2026, 6, 1)
DAYS = ("mon", "tue", "wed", "thu", "fri")
AGE_GROUPS = ((0, 18), (12, 36), (0, 36))


def count(text: str) -> int:
    text = text.lower().replace(",", "").replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * factor)


def make_facilities(rng: random.Random) -> list[Facility]:
    facilities = []
    for i in range(1, FACILITIES + 1):
        kg2024 = rng.random() < 0.2
        facilities.append(Facility(
            id=f"fac-{i:04d}", name=f"Facility {i}", municipality="Brussel",
            licensed_capacity=rng.randint(14, 56), opening_days=set(DAYS), min_age_months=0, max_age_months=36,
            income_related_tariff=rng.random() < 0.8, dutch_share=rng.choice((0.3, 0.4, 0.5, 0.55)),
            answer_window_days=rng.choice((10, 14)),
            extra_rules=rng.choice(((), ("sibling",), ("children_of_staff", "sibling"))),
            rule_set="kg-2024" if kg2024 else "kg-2013",
        ))
    return facilities


def make_candidates(rng: random.Random, n: int, facility_ids: list[str], urgent_share: float) -> list[Candidate]:
    weights = [1 / (rank + 20) for rank in range(len(facility_ids))]
    registered_from = datetime(2024, 6, 1, tzinfo=timezone.utc)
    candidates = []
    for i in range(n):
        chosen = tuple(dict.fromkeys(rng.choices(facility_ids, weights, k=rng.randint(1, 5))))
        desired = TODAY + timedelta(days=rng.randint(0, 540))
        days = rng.sample(DAYS, rng.randint(2, 5))
        half = rng.random() < 0.2
        care_plan = {day: (rng.choice(("morning", "afternoon")) if half else "full") for day in days}
        candidates.append(Candidate(
            request_id=f"r-{i:07d}", dossier_id=f"d-{i:07d}",
            child_birth_date=desired - timedelta(days=rng.randint(90, 900)),
            desired_start_date=desired, care_plan=care_plan, facility_ids=chosen,
            urgent=rng.random() < urgent_share, status="active",
            registered_at=registered_from + timedelta(seconds=rng.randint(0, 730 * 86400)),
            priority=Priority(
                dutch_proficiency=rng.random() < 0.4, dutch_proof_declared=rng.random() < 0.7,
                single_parent=rng.random() < 0.15, income_below_threshold=rng.random() < 0.2,
                health_or_care_situation=rng.random() < 0.05, no_secondary_diploma=rng.random() < 0.1,
                work_or_training_need=rng.random() < 0.7, work_regime_fraction=rng.choice((0, 0.5, 0.8, 1.0)),
                integration_course_complete=rng.random() < 0.03),
            foster_child=rng.random() < 0.01,
            sibling_facility_ids=frozenset(rng.sample(chosen, 1)) if rng.random() < 0.1 else frozenset(),
        ))
    return candidates


def make_place(rng: random.Random, facility: Facility) -> tuple[FreePlace, Occupancy]:
    if rng.random() < 0.6:
        weekdays = {day: "full" for day in DAYS}
    else:
        weekdays = {day: rng.choice(("full", "full", "morning")) for day in rng.sample(DAYS, rng.randint(2, 4))}
    low, high = rng.choice(AGE_GROUPS)
    place = FreePlace(facility_id=facility.id, start_date=TODAY + timedelta(days=rng.randint(0, 365)),
                      weekdays=weekdays, min_age_months=low, max_age_months=high)
    enrolled = rng.randint(0, facility.licensed_capacity - 1)
    occupancy = Occupancy(enrolled=enrolled, enrolled_dutch_priority=rng.randint(0, enrolled),
                          enrolled_vulnerable=rng.randint(0, enrolled), enrolled_other_families=rng.randint(0, enrolled))
    return place, occupancy


def traced_bytes_per_request(rng_seed: int, n: int, facility_ids: list[str], urgent_share: float):
    """Bytes per request held by the candidates and by the index on them, by tracemalloc on `n` requests."""
    tracemalloc.start()
    candidates = make_candidates(random.Random(rng_seed), n, facility_ids, urgent_share)
    held_by_candidates = tracemalloc.get_traced_memory()[0]
    index = CandidateIndex(candidates)
    held_by_index = tracemalloc.get_traced_memory()[0] - held_by_candidates
    tracemalloc.stop()
    del index, candidates
    return held_by_candidates / n, held_by_index / n


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=count, default=100_000, help="10k, 100k, 1m or a number")
    parser.add_argument("--places", type=int, default=2000, help="free places to rank")
    parser.add_argument("--urgent-share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--trace-sample", type=count, default=100_000,
                        help="requests generated under tracemalloc to measure memory (tracing is 10x slower)")
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() after building the read model, so collections skip the long-lived requests")
    args = parser.parse_args()

    rule_sets = load_rule_sets()
    facilities = make_facilities(random.Random(args.seed))
    facility_ids = [f.id for f in facilities]

    gc.collect()
    rss_before = rss_bytes()
    started = time.perf_counter()
    candidates = make_candidates(random.Random(args.seed + 1), args.requests, facility_ids, args.urgent_share)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    index = CandidateIndex(candidates)
    build_s = time.perf_counter() - started
    rss_growth_mb = (rss_bytes() - rss_before) / 2**20
    sample = min(args.requests, args.trace_sample)
    per_candidate, per_index_entry = traced_bytes_per_request(args.seed + 1, sample, facility_ids, args.urgent_share)
    if args.gc_freeze:
        gc.collect()
        gc.freeze()

    per_facility = sorted(len(index.candidates_for(f)) for f in facility_ids)
    print(f"requests {args.requests:,}  facilities {FACILITIES}  urgent {sum(c.urgent for c in candidates):,}  "
          f"places ranked {args.places:,}  seed {args.seed}  gc.freeze {'yes' if args.gc_freeze else 'no'}")
    print(f"candidates per facility (chosen + urgent): median {per_facility[len(per_facility) // 2]:,}  "
          f"max {per_facility[-1]:,}")
    print(f"generate {generated:.1f} s  index build {build_s:.2f} s")
    traced_mb = (per_candidate + per_index_entry) * args.requests / 2**20
    scaled = "" if sample == args.requests else f", scaled from a traced sample of {sample:,}"
    print(f"read model memory (tracemalloc{scaled}): candidates {per_candidate:.0f} B + index {per_index_entry:.0f} B "
          f"per request = {traced_mb:.0f} MiB; process RSS growth while building {rss_growth_mb:.0f} MiB", flush=True)

    rng = random.Random(args.seed + 2)
    wall_ms, cpu_ms, inputs, ranked = [], [], [], []
    for _ in range(args.places):
        facility = rng.choice(facilities)
        place, occupancy = make_place(rng, facility)
        wall, cpu = time.perf_counter(), time.thread_time()
        pool = index.candidates_for(facility.id)
        ranking = rank(facility, occupancy, place, pool, rule_sets[facility.rule_set])
        cpu_ms.append((time.thread_time() - cpu) * 1000)
        wall_ms.append((time.perf_counter() - wall) * 1000)
        inputs.append(len(pool))
        ranked.append(len(ranking.candidates))

    print(f"per ranking: input candidates mean {statistics.mean(inputs):,.0f} max {max(inputs):,}  "
          f"ranked mean {statistics.mean(ranked):,.0f} max {max(ranked):,}")
    # Wall time is what a caller waits; CPU time shows the cost without other processes on the machine.
    for name, timings in (("wall", wall_ms), ("cpu", cpu_ms)):
        q = statistics.quantiles(timings, n=100)
        print(f"rank ms ({name}): p50 {q[49]:.2f}  p95 {q[94]:.2f}  p99 {q[98]:.2f}  max {max(timings):.2f}")

if __name__ == "__main__":
    main()
