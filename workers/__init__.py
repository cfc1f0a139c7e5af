"""RQ jobs and the worker entry point (`python -m workers`).

Jobs decide nothing about the forum themselves: they take their locks, keep
their turn at the shared budget (`bridge.ratelimit.Turn`, `resumable.py`), retry
transient failures, and call `bridge/` (`MemberSync`, `EventPublisher`) for
every decision. Queueing conventions live in `queue.py` and `enqueue.py`.
"""
