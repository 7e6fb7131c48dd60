"""Handlers of the Drive module: name and icon (global), replica settings (local).

The setters write to whatever scope the action names, as Powerhouse's do; the list
handlers fail on a scope without the list. Listeners are stored normalised (every key
present, absent values as null) so that their hash matches Powerhouse's since Feb 2026.
"""

from __future__ import annotations

import copy

from reactor_es.document.model import ReduceContext, action
from reactor_es.document.types import JsonDict
from reactor_es.models.document_drive.exceptions import ListenerExistsError, TriggerExistsError
from reactor_es.models.document_drive.inputs import (
    AddListenerInput,
    AddTriggerInput,
    ListenerInput,
    RemoveListenerInput,
    RemoveTriggerInput,
    SetAvailableOfflineInput,
    SetDriveIconInput,
    SetDriveNameInput,
    SetSharingTypeInput,
)
from reactor_es.models.document_drive.state import scope_list

__all__ = ["DriveActions", "stored_listener"]


def _optional_list(value: list[str] | None) -> list[str] | None:
    return None if value is None else list(value)


def stored_listener(listener: ListenerInput) -> JsonDict:
    """A listener as the state holds it: all six keys, filter and callInfo filled in."""
    call_info = listener.call_info
    return {
        "listenerId": listener.listener_id,
        "label": listener.label,
        "block": listener.block,
        "system": listener.system,
        "filter": {
            "documentType": _optional_list(listener.filter.document_type),
            "documentId": _optional_list(listener.filter.document_id),
            "scope": _optional_list(listener.filter.scope),
            "branch": _optional_list(listener.filter.branch),
        },
        "callInfo": None
        if call_info is None
        else {
            "transmitterType": call_info.transmitter_type,
            "name": call_info.name,
            "data": call_info.data,
        },
    }


class DriveActions:
    """SET_DRIVE_NAME, SET_DRIVE_ICON, SET_SHARING_TYPE, SET_AVAILABLE_OFFLINE and
    ADD/REMOVE_LISTENER, ADD/REMOVE_TRIGGER."""

    @action("SET_DRIVE_NAME", SetDriveNameInput)
    def set_drive_name(self, state: JsonDict, inp: SetDriveNameInput, ctx: ReduceContext) -> None:
        state["name"] = inp.name  # the header's name is another matter (SET_NAME)

    @action("SET_DRIVE_ICON", SetDriveIconInput)
    def set_drive_icon(self, state: JsonDict, inp: SetDriveIconInput, ctx: ReduceContext) -> None:
        state["icon"] = inp.icon

    @action("SET_SHARING_TYPE", SetSharingTypeInput)
    def set_sharing_type(
        self, state: JsonDict, inp: SetSharingTypeInput, ctx: ReduceContext
    ) -> None:
        state["sharingType"] = inp.type  # a free string: "private", "public", "LOCAL", ...

    @action("SET_AVAILABLE_OFFLINE", SetAvailableOfflineInput)
    def set_available_offline(
        self, state: JsonDict, inp: SetAvailableOfflineInput, ctx: ReduceContext
    ) -> None:
        state["availableOffline"] = inp.available_offline

    @action("ADD_LISTENER", AddListenerInput)
    def add_listener(self, state: JsonDict, inp: AddListenerInput, ctx: ReduceContext) -> None:
        listeners = scope_list(state, "listeners", ctx.action.type, ctx.action.scope)
        listener_id = inp.listener.listener_id
        if any(item.get("listenerId") == listener_id for item in listeners):
            raise ListenerExistsError(listener_id)
        state["listeners"] = [*listeners, stored_listener(inp.listener)]

    @action("REMOVE_LISTENER", RemoveListenerInput)
    def remove_listener(
        self, state: JsonDict, inp: RemoveListenerInput, ctx: ReduceContext
    ) -> None:
        listeners = scope_list(state, "listeners", ctx.action.type, ctx.action.scope)
        state["listeners"] = [
            item for item in listeners if item.get("listenerId") != inp.listener_id
        ]

    @action("ADD_TRIGGER", AddTriggerInput)
    def add_trigger(self, state: JsonDict, inp: AddTriggerInput, ctx: ReduceContext) -> None:
        triggers = scope_list(state, "triggers", ctx.action.type, ctx.action.scope)
        trigger = inp.trigger
        if any(item.get("id") == trigger.id for item in triggers):
            raise TriggerExistsError(trigger.id)
        # The data object is copied as given: keys beyond the schema's survive.
        raw_data = ctx.action.input["trigger"].get("data")
        data = None if raw_data is None else copy.deepcopy(raw_data)
        state["triggers"] = [*triggers, {"id": trigger.id, "type": trigger.type, "data": data}]

    @action("REMOVE_TRIGGER", RemoveTriggerInput)
    def remove_trigger(self, state: JsonDict, inp: RemoveTriggerInput, ctx: ReduceContext) -> None:
        triggers = scope_list(state, "triggers", ctx.action.type, ctx.action.scope)
        state["triggers"] = [item for item in triggers if item.get("id") != inp.trigger_id]
