"""PEP 740: an upload's attestations checked for shape and made into the provenance object served for the file."""

from __future__ import annotations

import json
from typing import Any, Optional

from devpi_twisted.model.errors import InvalidInput

#: The most attestations one upload may carry (PyPI allows few; each is a few KiB).
MAX_ATTESTATIONS = 16
#: The keys PEP 740 requires of each attestation object.
_ATTESTATION_KEYS = ("version", "verification_material", "envelope")


def provenance_from_attestations(text: str, uploader: Optional[str]) -> bytes:
    """
    The provenance object (JSON bytes) for the C{attestations} form field
    of an upload: a JSON array of PEP 740 attestation objects, one bundle
    whose publisher is this index's uploader. The attestations are kept as
    sent (this server does not verify their signatures). Raises
    L{InvalidInput} for anything but such an array.
    """
    try:
        attestations: Any = json.loads(text)
    except ValueError as error:
        raise InvalidInput(f"attestations field is not JSON: {error}") from None
    if not isinstance(attestations, list) or not attestations:
        raise InvalidInput("attestations field must be a non-empty JSON array")
    if len(attestations) > MAX_ATTESTATIONS:
        raise InvalidInput(f"attestations field has more than {MAX_ATTESTATIONS} attestations")
    for attestation in attestations:
        if not isinstance(attestation, dict) or any(k not in attestation for k in _ATTESTATION_KEYS):
            raise InvalidInput(
                "each attestation must be an object with " + ", ".join(_ATTESTATION_KEYS)
            )
        if attestation["version"] != 1:
            raise InvalidInput(f"unsupported attestation version {attestation['version']!r}")
    bundle = {
        "publisher": {"kind": "devpi-twisted", "claims": {"uploader": uploader}},
        "attestations": attestations,
    }
    return json.dumps({"version": 1, "attestation_bundles": [bundle]}, sort_keys=True).encode()
