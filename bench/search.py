"""``python -m bench.search``: search over one big user's records, on SQLite.

Target: ``GET /api/v1/search`` answers in under 50 ms median for one user with 10,000
interviews and 20,000 contacts. The database (``var/bench/search-user.db``, made through the
migrations, so the FTS5 tables and their triggers index every row as it is inserted; kept
between runs, reseeded when missing) holds that user: 20,000 contacts with names, titles,
organizations, tags and (for most) notes; 10,000 interviews with notes, four questions and their
answers, advice and next steps; 10,000 letters with a subject and a body. The text is drawn from
a vocabulary of 3,000 words with a Zipf-like spread, so a few words are in nearly every record
and most in few. Another user's few records stand beside them.

One ``infoview serve`` worker; per query, 10 warm-up requests then 60 measured, one at a time
over a kept-alive connection (``limit=20``); the median and p95 are printed with ✓/✗ against
50 ms. The queries: a common word (in most records of every kind), a rare word (a handful of
records), two words (each in a few percent of records), and a word found only in a few
interviews' answers.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from app.kit.db import make_engine, new_id
from app.kit.migrations import upgrade
from app.kit.security import hash_password
from bench.__main__ import DATA, Server, _migrated, free_port, mark, token_for
from bench.seed import PASSWORD, _batched_insert, _table, checkpoint

TARGET_MS = 50.0
WARMUP = 10
REQUESTS = 60
CONTACTS = 20_000
INTERVIEWS = 10_000
LETTERS = 10_000
EMAIL = "search-user@example.com"

# The rare word and the answer-only word are planted; the others are drawn by rank.
RARE = "quillwort"
IN_ANSWERS = "zeppelin"
QUERIES = {
    "common word": "industry",  # rank 1 of the vocabulary: in most records
    "rare word": RARE,
    "two words": "mentor portfolio",  # ranks ~40 and ~60
    "a word only in answers": IN_ANSWERS,
}

_COMMON = [
    "industry",
    "work",
    "team",
    "company",
    "role",
    "experience",
    "career",
    "project",
    "people",
    "manager",
    "product",
    "time",
    "skills",
    "market",
    "clients",
    "growth",
    "learn",
    "advice",
    "network",
    "field",
    "training",
    "data",
    "design",
    "engineering",
    "sales",
    "research",
    "strategy",
    "finance",
    "health",
    "school",
    "hiring",
    "culture",
    "remote",
    "office",
    "startup",
    "budget",
    "meeting",
    "schedule",
    "launch",
    "mentor",
    "course",
    "degree",
    "internship",
    "salary",
    "interview",
    "resume",
    "portfolio",
    "conference",
    "community",
    "writing",
    "analysis",
    "leadership",
    "operations",
    "support",
    "customers",
    "quality",
    "process",
    "software",
    "hardware",
    "marketing",
    "portfolio",
    "nonprofit",
    "policy",
]
_FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Barbara",
    "Edsger",
    "Frances",
    "Ken",
    "Radia",
    "Donald",
    "Margaret",
    "John",
    "Hedy",
    "Tim",
    "Katherine",
    "Dennis",
    "Sophie",
    "José",
    "Zoë",
    "Chloé",
    "René",
    "Mårten",
    "Łukasz",
    "Søren",
]
_LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Liskov",
    "Dijkstra",
    "Allen",
    "Thompson",
    "Perlman",
    "Knuth",
    "Hamilton",
    "McCarthy",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Ritchie",
    "Wilson",
    "Núñez",
    "Brontë",
    "Dvořák",
    "Ångström",
    "Müller",
]
_TITLES = [
    "Engineer",
    "Designer",
    "Analyst",
    "Director",
    "Nurse",
    "Accountant",
    "Teacher",
    "Product Manager",
    "Researcher",
    "Consultant",
    "Editor",
    "Architect",
]


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """3,000 words, the first ones common English words, the rest made up; Zipf weights."""
    letters = "abcdefghijklmnoprstuvwy"
    made: list[str] = []
    seen = set(_COMMON) | {RARE, IN_ANSWERS}
    while len(made) < 3000 - len(_COMMON):
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 9)))
        if word not in seen:
            seen.add(word)
            made.append(word)
    words = list(dict.fromkeys(_COMMON)) + made
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(words))]
    return words, weights


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words, weights = _vocabulary(rng)
        self.cumulative = list(_accumulate(weights))

    def sentence(self, low: int, high: int) -> str:
        count = self.rng.randint(low, high)
        words = self.rng.choices(self.words, cum_weights=self.cumulative, k=count)
        return " ".join(words).capitalize() + "."


def _accumulate(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out


def seed_search_user(url: str, *, seed_value: int = 17) -> tuple[str, str]:
    """The big user, and a small neighbour. Returns (email, user id)."""
    rng = random.Random(seed_value)
    writer = _Writer(rng)
    upgrade(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    owner, neighbour = new_id(), new_id()
    _batched_insert(
        engine,
        _table("user_account"),
        [
            {
                "id": user,
                "email": email,
                "full_name": "Search User",
                "password_hash": hash_password(PASSWORD),
                "created_at": now - timedelta(days=400),
                "updated_at": now,
            }
            for user, email in ((owner, EMAIL), (neighbour, "search-neighbour@example.com"))
        ],
    )

    def contact(i: int, who: uuid.UUID) -> dict[str, Any]:
        created = now - timedelta(days=rng.randint(1, 400))
        return {
            "id": new_id(),
            "owner_id": who,
            "full_name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)} {i}",
            "organization": f"{writer.sentence(1, 2)[:-1]} Inc",
            "title": rng.choice(_TITLES),
            "tags": rng.sample(_COMMON[:30], rng.randint(0, 3)),
            "notes": writer.sentence(10, 60) if rng.random() < 0.7 else None,
            "archived": False,
            "version": 1,
            "created_at": created,
            "updated_at": created,
        }

    contacts = [contact(i, owner) for i in range(CONTACTS)]
    contacts += [contact(i, neighbour) for i in range(50)]
    for row in rng.sample(contacts[:CONTACTS], 4):
        row["notes"] = f"{row['notes'] or ''} Met at the {RARE} society."
    _batched_insert(engine, _table("contact"), contacts)
    contact_ids = [c["id"] for c in contacts[:CONTACTS]]

    answered = set(rng.sample(range(INTERVIEWS), 12))
    interviews: list[dict[str, Any]] = []
    for i in range(INTERVIEWS):
        requested = now - timedelta(days=rng.randint(1, 365))
        questions = [
            {"question": writer.sentence(5, 12)[:-1] + "?", "answer": writer.sentence(15, 40)}
            for _ in range(4)
        ]
        if i in answered:
            questions[rng.randrange(4)]["answer"] += f" Ask about the {IN_ANSWERS} route."
        interviews.append(
            {
                "id": new_id(),
                "owner_id": owner,
                "contact_id": rng.choice(contact_ids),
                "mode": "video",
                "career_field": rng.choice(["nursing", "accounting", "web development"]),
                "organization": f"{writer.sentence(1, 2)[:-1]} Ltd",
                "state": "request",
                "requested_at": requested,
                "notes": writer.sentence(30, 90),
                "questions": questions,
                "advice": writer.sentence(10, 30),
                "next_steps": writer.sentence(5, 20),
                "decision": "undecided",
                "version": 1,
                "created_at": requested,
                "updated_at": requested,
            }
        )
    for row in rng.sample(interviews, 3):
        row["notes"] += f" The {RARE} came up."
    _batched_insert(engine, _table("interview"), interviews)

    letters: list[dict[str, Any]] = []
    for _ in range(LETTERS):
        created = now - timedelta(days=rng.randint(1, 365))
        letters.append(
            {
                "id": new_id(),
                "owner_id": owner,
                "kind": rng.choice(["request", "thank_you", "follow_up", "keep_in_touch"]),
                "recipient_id": rng.choice(contact_ids),
                "channel": "email",
                "subject": writer.sentence(2, 6)[:-1],
                "body": " ".join(writer.sentence(8, 20) for _ in range(5)),
                "status": "draft",
                "version": 1,
                "created_at": created,
                "updated_at": created,
            }
        )
    _batched_insert(engine, _table("letter"), letters)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return EMAIL, str(owner)


def database() -> tuple[str, str]:
    """The seeded database's URL and the big user's email (seeded on the first run)."""
    DATA.mkdir(parents=True, exist_ok=True)
    path, meta = DATA / "search-user.db", DATA / "search-user.json"
    url = f"sqlite:///{path}"
    if meta.exists() and path.exists():
        _migrated(url)
        return url, str(json.loads(meta.read_text())["email"])
    for stale in DATA.glob("search-user.db*"):
        stale.unlink()
    started = time.monotonic()
    print("bench: seeding the search user (SQLite) …", flush=True)
    email, _ = seed_search_user(url)
    checkpoint(url)
    print(f"bench: seeded in {time.monotonic() - started:.0f} s", flush=True)
    meta.write_text(json.dumps({"email": email}))
    return url, email


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    url, email = database()
    server = Server(url, free_port())
    ok = True
    try:
        auth = {"Authorization": f"Bearer {token_for(server.base, email)}"}
        print(
            f"\nGET /api/v1/search, one user with {INTERVIEWS:,} interviews, {CONTACTS:,} "
            f"contacts and {LETTERS:,} letters (target median < {TARGET_MS:.0f} ms)"
        )
        print(f"{'query':<36}{'median ms':>10}{'p95 ms':>10}{'hits':>6}{'more':>6}  target")
        with httpx.Client(base_url=server.base, headers=auth, timeout=30) as client:
            for label, query in QUERIES.items():
                params: dict[str, str | int] = {"q": query, "limit": 20}
                for _ in range(WARMUP):
                    client.get("/api/v1/search", params=params).raise_for_status()
                times = []
                for _ in range(REQUESTS):
                    started = time.perf_counter()
                    response = client.get("/api/v1/search", params=params)
                    times.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                body = response.json()
                median, p95 = statistics.median(times), _percentile(times, 0.95)
                passed = median < TARGET_MS
                ok = ok and passed
                name = f"{label} ({query})"
                print(
                    f"{name:<36}{median:>10.1f}{p95:>10.1f}{len(body['data']):>6}"
                    f"{'yes' if body['has_more'] else 'no':>6}  {mark(passed)}"
                )
    finally:
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
