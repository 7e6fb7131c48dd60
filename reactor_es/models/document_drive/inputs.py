"""Input schemas of the 15 drive actions (Powerhouse's zod schemas, strictly typed).

Unknown keys are allowed, as zod allows them: ADD_FOLDER even stores them. Optional
fields distinguish "absent" from an explicit null through `model_fields_set`, which
UPDATE_NODE needs (only an explicit null moves a node to the root).
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from reactor_es.document.model import ActionInput

__all__ = [
    "AddFileInput",
    "AddFolderInput",
    "AddListenerInput",
    "AddTriggerInput",
    "CopyNodeInput",
    "DeleteNodeInput",
    "DriveInput",
    "ListenerCallInfoInput",
    "ListenerFilterInput",
    "ListenerInput",
    "MoveNodeInput",
    "PullResponderTriggerDataInput",
    "RemoveListenerInput",
    "RemoveTriggerInput",
    "SetAvailableOfflineInput",
    "SetDriveIconInput",
    "SetDriveNameInput",
    "SetSharingTypeInput",
    "TransmitterType",
    "TriggerInput",
    "UpdateFileInput",
    "UpdateNodeInput",
]

TransmitterType = Literal[
    "Internal", "SwitchboardPush", "PullResponder", "SecureConnect", "MatrixConnect", "RESTWebhook"
]


class DriveInput(ActionInput):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False)


# -- node module -------------------------------------------------------------------------


class AddFileInput(DriveInput):
    id: str
    name: str
    document_type: str
    parent_folder: str | None = None


class AddFolderInput(DriveInput):
    id: str
    name: str
    parent_folder: str | None = None


class DeleteNodeInput(DriveInput):
    id: str


class UpdateFileInput(DriveInput):
    id: str
    parent_folder: str | None = None
    name: str | None = None
    document_type: str | None = None


class UpdateNodeInput(DriveInput):
    id: str
    parent_folder: str | None = None
    name: str | None = None


class CopyNodeInput(DriveInput):
    src_id: str
    target_id: str
    target_name: str | None = None
    target_parent_folder: str | None = None


class MoveNodeInput(DriveInput):
    src_folder: str
    target_parent_folder: str | None = None


# -- drive module ------------------------------------------------------------------------


class SetDriveNameInput(DriveInput):
    name: str


class SetDriveIconInput(DriveInput):
    icon: str


class SetSharingTypeInput(DriveInput):
    type: str


class SetAvailableOfflineInput(DriveInput):
    available_offline: bool


class ListenerFilterInput(DriveInput):
    document_type: list[str] | None = None
    document_id: list[str] | None = None
    scope: list[str] | None = None
    branch: list[str] | None = None


class ListenerCallInfoInput(DriveInput):
    transmitter_type: TransmitterType | None = None
    name: str | None = None
    data: str | None = None


class ListenerInput(DriveInput):
    listener_id: str
    block: bool
    system: bool
    filter: ListenerFilterInput
    label: str | None = None
    call_info: ListenerCallInfoInput | None = None


class AddListenerInput(DriveInput):
    listener: ListenerInput


class RemoveListenerInput(DriveInput):
    listener_id: str


class PullResponderTriggerDataInput(DriveInput):
    listener_id: str
    url: str
    interval: str


class TriggerInput(DriveInput):
    id: str
    type: Literal["PullResponder"]
    data: PullResponderTriggerDataInput | None = None


class AddTriggerInput(DriveInput):
    trigger: TriggerInput


class RemoveTriggerInput(DriveInput):
    trigger_id: str
