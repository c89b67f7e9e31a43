"""`Idempotency-Key` for mutating requests a client may retry, on Powertools idempotency over DynamoDB.

The same key with the same body replays the first answer (nothing is done twice); the same key with another
body is refused with 409, as is a retry that arrives while the first call is still running. Records expire
after a day. The key is namespaced by operation, so one client key cannot collide across routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from chalicelib.core.errors import ConflictError, FieldProblem, ValidationFailedError

MAX_KEY_LENGTH = 255


class Idempotency:
    def __init__(self, table_name: str, dynamodb_client: Any, expires_after_seconds: int = 86_400) -> None:
        self._layer = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            expires_after_seconds=expires_after_seconds,
            raise_on_no_idempotency_key=True,
        )

    def run(self, namespace: str, key: str, payload: Any, operation: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run `operation` once per (namespace, key); later calls with that key get its first answer."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValidationFailedError([FieldProblem("Idempotency-Key", f"Must be 1 to {MAX_KEY_LENGTH} characters")])

        @idempotent_function(
            data_keyword_argument="request",
            persistence_store=self._layer,
            config=self._config,
            key_prefix=f"vigil.{namespace}",
        )
        def once(request: dict[str, Any]) -> dict[str, Any]:
            return operation()

        try:
            return once(request={"key": key, "body": payload})
        except IdempotencyValidationError as exc:
            raise ConflictError("This Idempotency-Key was used with a different request body") from exc
        except IdempotencyAlreadyInProgressError as exc:
            raise ConflictError("A request with this Idempotency-Key is still being processed") from exc
