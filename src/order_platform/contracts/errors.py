"""The platform's error vocabulary: each exception a caller or the consumer loop must act on
says which kind of failure it is, so that one table (`building_blocks.http.problem`) answers it
over HTTP and the consumer loop waits on any `Unavailable` without knowing who raised it.

Pure, like `money` and `user_text`: domain and application code import it (import-linter
keeps them off `building_blocks`). The problem `type` names are published language too.
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar, Final

PROBLEM_TYPE_PREFIX: Final = "urn:order-platform:problem:"


def problem_type(name: str) -> str:
    """The URI of one of the platform's problem types (RFC 9457 `type`)."""
    return PROBLEM_TYPE_PREFIX + name


class Category(Enum):
    INVALID = "invalid"
    """The request breaks a rule: the same request fails again."""
    NOT_FOUND = "not-found"
    """What the request names does not exist (or not yet)."""
    CONFLICT = "conflict"
    """The request clashes with the current state, e.g. another one doing the same thing."""
    UNAVAILABLE = "unavailable"
    """Something needed is away or taken for now; nothing was done: retry later, unchanged."""
    OUTCOME_UNKNOWN = "outcome-unknown"
    """An answer came too late: the effect may or may not have happened."""
    PRECONDITION_FAILED = "precondition-failed"
    """A condition the caller set (HTTP `If-Match`) no longer holds: what they read changed."""


class CategorisedError(Exception):
    """Base of every error with a category; subclass one of the six below, not this."""

    category: ClassVar[Category]
    # A problem type more precise than its category's (`problem_type(problem)`), e.g.
    # "request-in-flight": clients may tell it apart from others of its category.
    problem: ClassVar[str | None] = None


class Invalid(CategorisedError):
    category = Category.INVALID


class NotFound(CategorisedError):
    category = Category.NOT_FOUND


class Conflict(CategorisedError):
    category = Category.CONFLICT


class Unavailable(CategorisedError):
    category = Category.UNAVAILABLE


class OutcomeUnknown(CategorisedError):
    category = Category.OUTCOME_UNKNOWN


class PreconditionFailed(CategorisedError):
    category = Category.PRECONDITION_FAILED
