"""The sync tests run against the forum with its managed groups created."""

from tests.support.forum import forum  # noqa: F401 - fixture
