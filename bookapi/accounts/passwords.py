"""Password hashing (argon2id), and the policy of NIST SP 800-63B: a length and a blocklist, no composition rules."""
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from marshmallow import ValidationError
from zxcvbn import zxcvbn

MIN_LENGTH, MAX_LENGTH = 12, 128
# zxcvbn's cost grows fast with length; a password whose first 32 characters are guessable is refused anyway.
ESTIMATED_PREFIX = 32
# zxcvbn's scores: 0 and 1 mean fewer than a million guesses (common passwords, repeats, sequences, keyboard walks).
MIN_SCORE = 2
# OWASP's Password Storage Cheat Sheet: argon2id, 19 MiB, two iterations, one lane.
hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password):
    return hasher.hash(password)


def verify_password(password_hash, password):
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash):
    """Whether the hash was made with other parameters than today's, so that login should hash it again."""
    return hasher.check_needs_rehash(password_hash)


@cache
def dummy_hash():
    """A hash to verify against when no account matches, so that an unknown email costs what a wrong password does."""
    return hasher.hash("an unguessable password for no account")


def check_password(password, email):
    """Raise a ValidationError naming the ``password`` field when it breaks the policy; ``email`` is the account's.

    The messages are keyed by the field so that they name it wherever the check runs: in a schema's validator (a
    registration) or in the service after loading (a change of password, which needs the account's email).
    """
    breach = policy_breach(password, email)
    if breach:
        raise ValidationError({"password": [breach]})


def policy_breach(password, email):
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"Length must be between {MIN_LENGTH} and {MAX_LENGTH} characters."
    local_part = email.partition("@")[0]
    if len(local_part) >= 3 and local_part in password.lower():
        return "Must not contain the local part of your email address."
    estimate = zxcvbn(password[:ESTIMATED_PREFIX], user_inputs=[email, local_part], max_length=ESTIMATED_PREFIX)
    if estimate["score"] < MIN_SCORE:
        return "Too common or too easy to guess; a few unrelated words make a strong password."
    return None
