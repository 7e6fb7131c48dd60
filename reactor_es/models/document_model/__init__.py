"""The built-in `powerhouse/document-model` model (documents that define document models).

Faithful to Powerhouse's reducer in every era it went through (see `rules`), so that real
exports replay to byte-identical state hashes; new actions follow today's rules.
"""

from __future__ import annotations

from reactor_es.models.document_model.model import DocumentModelModel
from reactor_es.models.document_model.rules import ERAS, RULE_VERSIONS

__all__ = ["ERAS", "RULE_VERSIONS", "DocumentModelModel"]
