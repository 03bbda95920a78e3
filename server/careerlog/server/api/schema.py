"""OpenAPI for what Litestar cannot describe alone: structs encoded as JSON arrays.

A msgspec struct with ``array_like=True`` (e.g. a goal's progress point,
``[day, value]``) is an array on the wire, but Litestar's schema would call it
an object with named properties. This plugin describes it as the tuple it is,
so a client generated from ``/schema/openapi.json`` reads the real shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar.openapi.spec import Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

__all__ = ["ArrayLikeStructs"]


class ArrayLikeStructs(OpenAPISchemaPlugin):
    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return (
            isinstance(value, type)
            and issubclass(value, msgspec.Struct)
            and bool(value.__struct_config__.array_like)
        )

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        cls = field_definition.annotation
        fields = msgspec.structs.fields(cls)
        items = [
            schema_creator.for_field_definition(FieldDefinition.from_annotation(f.type))
            for f in fields
        ]
        return Schema(
            type=OpenAPIType.ARRAY,
            prefix_items=items,
            min_items=len(items),
            max_items=len(items),
            title=cls.__name__,
            description="An array: " + ", ".join(f.name for f in fields) + ".",
        )
