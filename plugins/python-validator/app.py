"""The template's validator, in Python (componentize-py).

Every field the site lists in `config.fields` is text, trimmed, at most
`max_length` characters (100 by default); fields it does not list are refused.

    {"fields": ["employer", "team"], "max_length": 40}

Build: ./build.sh (writes python_validator.wasm here).
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.validator import ValidationRequest
from wit_world.imports import log
from wit_world.imports.types import Field, FieldDescription, FieldError, FieldType


def read_config(text):
    config = json.loads(text) or {}
    return config.get("fields", []), config.get("max_length", 100)


def refuse(field, message):
    # The host passes field errors through as written: Open edX's framing is ours to add.
    return FieldError(field, f"Error in extended profile field [{field}]: {message}", message)


class Validator(exports.Validator):
    def validate(self, request: ValidationRequest):
        fields, max_length = read_config(request.config)
        accepted, refused = [], []
        for field in request.submitted:
            if field.name not in fields:
                refused.append(refuse(field.name, "This field is not part of the profile."))
                continue
            value = json.loads(field.value)
            if value is None:
                accepted.append(field)
            elif isinstance(value, str):
                text = value.strip()
                if len(text) > max_length:
                    refused.append(refuse(field.name, f"Use at most {max_length} characters."))
                else:
                    accepted.append(Field(field.name, json.dumps(text)))
            else:
                refused.append(refuse(field.name, "Enter text."))
        if refused:
            log.write(log.Level.INFO, f"refused {len(refused)} field(s) for {request.username}")
            raise Err(refused)
        return accepted

    def describe(self, config: str):
        fields, _ = read_config(config)
        return [FieldDescription(name, name.replace("_", " "), FieldType.TEXT, False, []) for name in fields]
