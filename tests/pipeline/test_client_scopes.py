"""The Reactor client refuses a job whose actions span scopes (Powerhouse's queue rule: one
scope per job) before publishing anything, whichever way the job is submitted."""

from __future__ import annotations

import pytest

from reactor_es.client import Reactor
from reactor_es.config import Settings
from reactor_es.document.actions import new_action
from reactor_es.errors import ClientError, MixedScopesError
from reactor_es.executor.service import JobExecutor
from reactor_es.kafka.records import JobKind, JobStatus
from reactor_es.kafka.topics import TopicNames
from tests.pipeline.conftest import end_offsets

TODO = "reactor-es/todo-list"
MESSAGE = (
    "job for document list-1 has actions in scopes 'global', 'local': "
    "all actions of one job must share one scope"
)


async def test_a_job_spanning_scopes_is_refused_and_nothing_is_published(
    pipeline_settings: Settings, kafka_bootstrap: str
) -> None:
    settings, bootstrap = pipeline_settings, kafka_bootstrap
    topics = TopicNames.from_settings(settings)
    add = {"type": "ADD_TODO", "input": {"id": "t1", "text": "milk"}}
    local_noop = {"type": "NOOP", "input": {}, "scope": "local"}
    empty = dict.fromkeys(range(settings.partitions), 0)

    async def published() -> list[dict[int, int]]:
        return [
            await end_offsets(settings, bootstrap, topic)
            for topic in (topics.actions, topics.job_events)
        ]

    async with Reactor(settings, bootstrap) as reactor:
        # Without the document's type (only what holds for any document is checked) and
        # with it (the model checks each action too): the scopes are refused either way.
        for document_type in (None, TODO):
            with pytest.raises(MixedScopesError) as refused:
                await reactor.mutate("list-1", [add, local_noop], document_type=document_type)
            assert str(refused.value) == MESSAGE
            assert isinstance(refused.value, ClientError)
        with pytest.raises(MixedScopesError) as refused:
            reactor.check_actions("list-1", [local_noop, add], document_type=TODO)
        assert str(refused.value) == MESSAGE
        actions = [
            new_action("ADD_TODO", {"id": "t2", "text": "bread"}, action_id="a-1"),
            new_action("NOOP", {}, "local", action_id="a-2"),
        ]
        with pytest.raises(MixedScopesError) as refused:
            await reactor.submit_job("list-1", actions, JobKind.MUTATE)
        assert str(refused.value) == MESSAGE

        assert await published() == [empty, empty]

        # The same actions one scope per job are published: the offsets above would see it.
        first = await reactor.mutate("list-1", [add])
        second = await reactor.mutate("list-1", [local_noop])
        assert (first.status, second.status) == (JobStatus.PENDING, JobStatus.PENDING)

    actions_after, events_after = await published()
    assert sum(actions_after.values()) == 2
    assert sum(events_after.values()) == 2


async def test_the_executor_refuses_what_the_model_cannot_mean_from_any_client(
    pipeline_settings: Settings, kafka_bootstrap: str, executor: JobExecutor
) -> None:
    """A client without the model (the Python client does not know a document's type
    unless told) publishes a typo: the job fails naming it, and no index is used."""
    async with Reactor(pipeline_settings, kafka_bootstrap) as reactor:
        created = await reactor.create_document(TODO, "list-9")
        assert (await reactor.wait_for_job(created.id, 30)).status is JobStatus.WRITE_READY
        refused = {
            "ADD_TDOO": (
                new_action("ADD_TDOO", {"id": "t3"}),
                "unknown action type 'ADD_TDOO' for reactor-es/todo-list (its actions: "
                "ADD_TODO, TOGGLE_TODO, REMOVE_TODO; or a base action such as NOOP, UNDO, "
                "SET_NAME)",
            ),
            "ADD_TODO in local": (
                new_action("ADD_TODO", {"id": "t3", "text": "x"}, "local"),
                "ADD_TODO of reactor-es/todo-list acts on the 'global' scope, not 'local'",
            ),
            "NOOP in nowhere": (
                new_action("NOOP", {}, "nowhere"),
                "NOOP: scope 'nowhere' is not a scope of reactor-es/todo-list (its scopes: "
                "auth, document, global, header, local)",
            ),
        }
        for action, message in refused.values():
            job = await reactor.submit_job("list-9", [action], JobKind.MUTATE)
            info = await reactor.wait_for_job(job.id, 30)
            assert (info.status, info.error, list(info.operations)) == (
                JobStatus.FAILED,
                message,
                [],
            )
        added = await reactor.mutate(
            "list-9", [{"type": "ADD_TODO", "input": {"id": "t3", "text": "x"}}]
        )
        info = await reactor.wait_for_job(added.id, 30)
        assert [(r.scope, r.index) for r in info.operations] == [("global", 0)]
