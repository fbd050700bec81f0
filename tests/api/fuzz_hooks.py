"""Schemathesis hooks for .ci/fuzz-api (loaded through SCHEMATHESIS_HOOKS).

JSON Schema cannot say "the last digit is a Luhn check digit", so the document marks IMEIs
with ``format: imei`` and this teaches schemathesis to generate valid ones.
"""

import schemathesis
from hypothesis import strategies as st


def with_check_digit(body: str) -> str:
    """Append the Luhn check digit to 14 digits."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        n = int(ch)
        if i % 2 == 0:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return body + str((10 - total % 10) % 10)


schemathesis.openapi.format(
    "imei", st.text("0123456789", min_size=14, max_size=14).map(with_check_digit)
)
