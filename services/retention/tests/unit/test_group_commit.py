import eventlet
import pytest

from retention.group_commit import GroupCommit


def test_items_submitted_together_are_handled_as_one_group_and_each_worker_gets_its_outcome():
    group_commit, groups = GroupCommit(), []

    def handle(items):
        groups.append(list(items))
        return [item * 10 if item != 3 else ValueError("three") for item in items]

    def work(item):
        try:
            return group_commit.submit(item, handle)
        except ValueError as error:
            return str(error)

    workers = [eventlet.spawn(work, item) for item in range(5)]
    assert [worker.wait() for worker in workers] == [0, 10, 20, "three", 40]
    assert groups == [[0, 1, 2, 3, 4]]


def test_a_failing_group_fails_every_worker_in_it_and_the_next_group_still_runs():
    group_commit, calls = GroupCommit(), []

    def handle(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise ConnectionError("database down")
        return list(items)

    first = [eventlet.spawn(group_commit.submit, item, handle) for item in (1, 2)]
    for worker in first:
        with pytest.raises(ConnectionError):
            worker.wait()
    assert group_commit.submit(3, handle) == 3
    assert calls == [[1, 2], [3]]


def test_a_group_handler_that_loses_an_outcome_fails_the_group_instead_of_hanging_it():
    group_commit = GroupCommit()
    workers = [eventlet.spawn(group_commit.submit, item, lambda items: items[:1]) for item in (1, 2)]
    for worker in workers:
        with pytest.raises(RuntimeError):
            worker.wait()
