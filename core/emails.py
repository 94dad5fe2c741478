"""Email addresses as Inferra stores and compares them: the ASCII form, an internationalised
domain in its IDNA (`xn--`) spelling. The address a user registers is then the one the API
returns (pydantic's EmailStr alone answers with the Unicode domain, which is not what was sent
and not a valid `format: email`), and login finds the user whichever spelling they type."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def ascii_email(value: str) -> str:
    """The normalised ASCII form of an address; ValueError when it is not one, or when the part
    before the @ is not ASCII (it has no ASCII form, and few mail systems deliver to it)."""
    try:
        address = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    if address.ascii_email is None:
        raise ValueError("an email address with non-ASCII characters before the @ is not accepted")
    return address.ascii_email
