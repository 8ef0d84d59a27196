"""CheckCellMetadata: nbgrader's metadata check, with its schema compiled once.

nbgrader validates each cell's metadata with ``jsonschema.validate``, which checks the
schema itself against its metaschema before every use: 26 cells, twice per notebook,
measured at 0.1–0.2 s of a worker's CPU per submission. The checks and the errors are
nbgrader's own (nbgrader.nbgraderformat.MetadataValidator); only the schema's compiled
validator is kept.
"""

from __future__ import annotations

import jsonschema
from nbgrader.nbgraderformat import (
    MetadataValidator,
    SchemaTooNewError,
    SchemaTooOldError,
    ValidationError,
)
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.preprocessors import CheckCellMetadata as NbgraderCheckCellMetadata

_COMPILED: dict[int, jsonschema.protocols.Validator] = {}  # schema version -> validator


def _compiled(validator: BaseMetadataValidator) -> jsonschema.protocols.Validator:
    """The validator of ``validator``'s schema, its schema checked once per process."""
    version = validator.schema_version
    if version not in _COMPILED:
        cls = jsonschema.validators.validator_for(validator.schema)
        cls.check_schema(validator.schema)
        _COMPILED[version] = cls(validator.schema)
    return _COMPILED[version]


class _SchemaOnce(BaseMetadataValidator):
    """BaseMetadataValidator.validate_cell with the compiled schema (same errors)."""

    def validate_cell(self, cell) -> None:
        if "nbgrader" not in cell.metadata:
            return
        version = cell.metadata["nbgrader"].get("schema_version", 0)
        if version < self.schema_version:
            raise SchemaTooOldError(
                f"Outdated schema version: {version} (expected {self.schema_version})",
                version,
                self.schema_version,
            )
        if version > self.schema_version:
            raise SchemaTooNewError(
                f"Schema version is too new: {version} (expected {self.schema_version})",
                version,
                self.schema_version,
            )
        errors = _compiled(self).iter_errors(cell.metadata["nbgrader"])
        error = jsonschema.exceptions.best_match(errors)
        if error is not None:
            raise error


class FastMetadataValidator(MetadataValidator, _SchemaOnce):
    """nbgrader's current MetadataValidator; its base's schema step runs compiled."""


class CheckCellMetadata(NbgraderCheckCellMetadata):
    """nbgrader's CheckCellMetadata (same log and error), validating with the schema compiled
    once per process."""

    def preprocess(self, nb, resources):
        try:
            FastMetadataValidator().validate_nb(nb)
        except ValidationError:
            # nbgrader's own handling: its log lines and its error
            return super().preprocess(nb, resources)
        return nb, resources
