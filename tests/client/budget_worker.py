"""One bridge process of the shared-budget test: its own client, its own budget object.

Run as ``python -m tests.client.budget_worker '<json config>'``; prints a JSON
summary. Kept out of pytest collection (no ``test_`` prefix).
"""

from __future__ import annotations

import json
import sys
import time

import redis
import requests

from bridge.discourse import DiscourseClient, RateLimited
from bridge.ratelimit import ApiBudget


def main(config: dict) -> dict:
    budget = ApiBudget(
        redis.Redis.from_url(config["redis_url"]),
        per_minute=config["per_minute"],
        key=config["key"],
        window=config["window"],
    )
    client = DiscourseClient(
        base_url=config["base_url"],
        api_key=config["api_key"],
        connect_secret=config["connect_secret"],
        session=requests.Session(),
        budget=budget,
        timeout=5.0,
        budget_wait=config["budget_wait"],
    )
    time.sleep(max(config["start_at"] - time.time(), 0.0))  # both processes start together
    done = limited = 0
    for _ in range(config["calls"]):
        try:
            client.site_settings("title")
            done += 1
        except RateLimited:
            limited += 1
    return {"done": done, "limited": limited}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
