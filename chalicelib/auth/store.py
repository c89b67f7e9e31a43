"""Identity records in the entities table: users, roles, permissions, API keys, revoked tokens.

Single-table layout (pk / sk, and gsi1 to list one kind):

    USER#<id>        PROFILE   a user                      gsi1: USER / <email>
    EMAIL#<email>    USER      email → user id (uniqueness)
    ROLE#<id>        ROLE      a role and its permissions  gsi1: ROLE / <name>
    ROLENAME#<name>  ROLE      name → role id (uniqueness)
    PERM#<name>      PERM      a permission                gsi1: PERM / <name>
    APIKEY#<id>      KEY       an API key (hash only)      gsi1: APIKEY / <created>
    REVOKED#<jti>    JTI       a revoked token, until it would have expired (TTL)
    SEQ#<kind>       SEQ       the last integer id given to a user, role or permission

Uniqueness (email, role name) is enforced with a transaction of conditional puts, so two concurrent
registrations of one address cannot both succeed.
"""

from __future__ import annotations

from typing import Any

from chalicelib.core.dynamo import Delete, DynamoTable, Put
from chalicelib.core.errors import ConflictError

GSI = "gsi1"


class IdentityStore:
    def __init__(self, table: DynamoTable) -> None:
        self._t = table

    # ids
    def next_id(self, kind: str) -> int:
        item = self._t.update({"pk": f"SEQ#{kind}", "sk": "SEQ"}, "ADD #n :one", names={"#n": "n"}, values={":one": 1})
        return int(item["n"])

    # users
    def create_user(self, user: dict[str, Any]) -> None:
        """Write a new user and its email claim atomically; an existing email is a `ConflictError`."""
        email = user["email_lower"]
        self._transact(
            [
                {"pk": f"EMAIL#{email}", "sk": "USER", "user_id": user["id"]},
                {"pk": f"USER#{user['id']}", "sk": "PROFILE", "gsi1pk": "USER", "gsi1sk": email, **user},
            ],
            f"A user with email {user['email']} already exists",
        )

    def get_user(self, user_id: int | str) -> dict[str, Any] | None:
        return _strip(self._t.get({"pk": f"USER#{user_id}", "sk": "PROFILE"}, consistent=True))

    def get_user_by_email(self, email: str) -> dict[str, Any] | None:
        claim = self._t.get({"pk": f"EMAIL#{email.lower()}", "sk": "USER"}, consistent=True)
        return self.get_user(claim["user_id"]) if claim else None

    def save_user(self, user: dict[str, Any], *, expected_version: int) -> dict[str, Any]:
        """Replace a user if nobody changed it since it was read (optimistic concurrency on `version`)."""
        item = {
            "pk": f"USER#{user['id']}",
            "sk": "PROFILE",
            "gsi1pk": "USER",
            "gsi1sk": user["email_lower"],
            **user,
        }
        item["version"] = expected_version + 1
        try:
            self._t.put(item, condition="#v = :v", names={"#v": "version"}, values={":v": expected_version})
        except ConflictError as exc:
            raise ConflictError("The user was changed by someone else; read it again") from exc
        return _strip(item) or {}

    def change_email(self, user: dict[str, Any], old_email: str, *, expected_version: int) -> dict[str, Any]:
        """Move the email claim and save the user in one transaction."""
        item = {
            "pk": f"USER#{user['id']}",
            "sk": "PROFILE",
            "gsi1pk": "USER",
            "gsi1sk": user["email_lower"],
            **user,
        }
        item["version"] = expected_version + 1
        claim = {"pk": f"EMAIL#{user['email_lower']}", "sk": "USER", "user_id": user["id"]}
        self._t.transact(
            [
                Put(claim, condition="attribute_not_exists(pk)"),
                Delete({"pk": f"EMAIL#{old_email}", "sk": "USER"}),
                Put(item, condition="#v = :v", names={"#v": "version"}, values={":v": expected_version}),
            ],
            f"A user with email {user['email']} already exists, or the user changed meanwhile",
        )
        return _strip(item) or {}

    def delete_user(self, user: dict[str, Any]) -> None:
        self._t.batch_write(
            deletes=[
                {"pk": f"USER#{user['id']}", "sk": "PROFILE"},
                {"pk": f"EMAIL#{user['email_lower']}", "sk": "USER"},
            ]
        )

    def list_users(self) -> list[dict[str, Any]]:
        return [_strip(i) or {} for i in self._t.query_all("gsi1pk = :k", {":k": "USER"}, index=GSI)]

    # roles
    def create_role(self, role: dict[str, Any]) -> None:
        self._transact(
            [
                {"pk": f"ROLENAME#{role['name']}", "sk": "ROLE", "role_id": role["id"]},
                {"pk": f"ROLE#{role['id']}", "sk": "ROLE", "gsi1pk": "ROLE", "gsi1sk": role["name"], **role},
            ],
            f"A role named {role['name']} already exists",
        )

    def get_role(self, role_id: int | str) -> dict[str, Any] | None:
        return _strip(self._t.get({"pk": f"ROLE#{role_id}", "sk": "ROLE"}, consistent=True))

    def get_role_by_name(self, name: str) -> dict[str, Any] | None:
        claim = self._t.get({"pk": f"ROLENAME#{name}", "sk": "ROLE"}, consistent=True)
        return self.get_role(claim["role_id"]) if claim else None

    def save_role(self, role: dict[str, Any], old_name: str | None = None) -> None:
        item = {"pk": f"ROLE#{role['id']}", "sk": "ROLE", "gsi1pk": "ROLE", "gsi1sk": role["name"], **role}
        if old_name and old_name != role["name"]:
            self._transact(
                [{"pk": f"ROLENAME#{role['name']}", "sk": "ROLE", "role_id": role["id"]}],
                f"A role named {role['name']} already exists",
            )
            self._t.delete({"pk": f"ROLENAME#{old_name}", "sk": "ROLE"})
        self._t.put(item)

    def delete_role(self, role: dict[str, Any]) -> None:
        self._t.batch_write(
            deletes=[
                {"pk": f"ROLE#{role['id']}", "sk": "ROLE"},
                {"pk": f"ROLENAME#{role['name']}", "sk": "ROLE"},
            ]
        )

    def list_roles(self) -> list[dict[str, Any]]:
        return [_strip(i) or {} for i in self._t.query_all("gsi1pk = :k", {":k": "ROLE"}, index=GSI)]

    # permissions
    def create_permission(self, permission: dict[str, Any]) -> None:
        item = {
            "pk": f"PERM#{permission['name']}",
            "sk": "PERM",
            "gsi1pk": "PERM",
            "gsi1sk": permission["name"],
        }
        try:
            self._t.put({**item, **permission}, condition="attribute_not_exists(pk)")
        except ConflictError as exc:
            raise ConflictError(f"A permission named {permission['name']} already exists") from exc

    def list_permissions(self) -> list[dict[str, Any]]:
        return [_strip(i) or {} for i in self._t.query_all("gsi1pk = :k", {":k": "PERM"}, index=GSI)]

    # API keys
    def put_api_key(self, key: dict[str, Any]) -> None:
        self._t.put({"pk": f"APIKEY#{key['id']}", "sk": "KEY", "gsi1pk": "APIKEY", "gsi1sk": key["created_at"], **key})

    def get_api_key(self, key_id: str) -> dict[str, Any] | None:
        return _strip(self._t.get({"pk": f"APIKEY#{key_id}", "sk": "KEY"}))

    def list_api_keys(self) -> list[dict[str, Any]]:
        return [_strip(i) or {} for i in self._t.query_all("gsi1pk = :k", {":k": "APIKEY"}, index=GSI)]

    def revoke_api_key(self, key_id: str, revoked_at: str) -> dict[str, Any]:
        try:
            return (
                _strip(
                    self._t.update(
                        {"pk": f"APIKEY#{key_id}", "sk": "KEY"},
                        "SET revoked_at = :at",
                        condition="attribute_exists(pk) AND attribute_not_exists(revoked_at)",
                        values={":at": revoked_at},
                    )
                )
                or {}
            )
        except ConflictError as exc:
            raise ConflictError(f"API key {key_id} does not exist or is already revoked") from exc

    def touch_api_key(self, key_id: str, used_at: str, not_since: str) -> None:
        """Record use, at most once per interval: the condition skips the write when it is recent."""
        try:
            self._t.update(
                {"pk": f"APIKEY#{key_id}", "sk": "KEY"},
                "SET last_used_at = :at",
                condition="attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :since)",
                values={":at": used_at, ":since": not_since},
            )
        except ConflictError:
            return  # used recently: nothing to record

    # tokens
    def revoke_token(self, jti: str, expires_epoch: int) -> None:
        self._t.put({"pk": f"REVOKED#{jti}", "sk": "JTI", "ttl": expires_epoch})

    def user_and_revocation(self, user_id: str, jti: str) -> tuple[dict[str, Any] | None, bool]:
        """The token's user and whether the token is revoked, in one request."""
        found = self._t.batch_get([{"pk": f"USER#{user_id}", "sk": "PROFILE"}, {"pk": f"REVOKED#{jti}", "sk": "JTI"}])
        user = next((i for i in found if i["pk"].startswith("USER#")), None)
        revoked = any(i["pk"].startswith("REVOKED#") for i in found)
        return _strip(user), revoked

    def _transact(self, items: list[dict[str, Any]], conflict_message: str) -> None:
        """Create every item, or none if any exists already."""
        self._t.transact([Put(item, condition="attribute_not_exists(pk)") for item in items], conflict_message)


def _strip(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record without its key attributes."""
    if item is None:
        return None
    return {k: v for k, v in item.items() if k not in ("pk", "sk", "gsi1pk", "gsi1sk", "ttl")}
