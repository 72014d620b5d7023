"""Seed data of the Oliver sandbox: one practice, its schedule, clients and patients.

Everything here is fictional (555-01xx phone numbers, example.com addresses). Other parts of the
project import these constants, so keep the names stable.
"""

from __future__ import annotations

from typing import Any, Final

LOCATION_ID: Final = "7d3c1f4e-2b8a-4c6d-9e0f-1a2b3c4d5e6f"
"""The practice's location id, the only accepted `X-Client-Id`."""

USERNAME: Final = "sandbox-partner"
PASSWORD: Final = "sandbox-password"  # noqa: S105 - public sandbox credential
ROLE: Final = "ROLE_API"

STATIC_TOKEN: Final = "sandbox-static-token"  # noqa: S105 - public sandbox token
"""A bearer token that is always valid (for the bare-token secret form); it never expires on its
own, `POST /__sandbox/expire-tokens {"static": true}` revokes it until the next reset."""

PRACTICE_NAME: Final = "Sandbox Animal Hospital"
TIME_ZONE: Final = "America/Chicago"

# Opening hours per ISO weekday (1 = Monday ... 7 = Sunday): (open hour, close hour), local time.
OPENING_HOURS: Final[dict[int, tuple[int, int] | None]] = {
    1: (8, 17),
    2: (8, 17),
    3: (8, 17),
    4: (8, 17),
    5: (8, 17),
    6: (8, 17),
    7: None,
}
SLOT_MINUTES: Final = 20
SEARCH_DAYS: Final = 14
AUTO_ACCEPT: Final = False
"""Practice setting: when True an appointment without `status` is ACCEPTED, else REQUESTED."""

APPOINTMENT_CATEGORIES: Final = ("wellness", "sick", "technician", "recheck")

APPOINTMENT_TYPES: Final[list[dict[str, Any]]] = [
    {"id": "501", "name": "Wellness Exam", "category": "wellness", "duration": 20},
    {"id": "502", "name": "Sick Visit", "category": "sick", "duration": 20},
    {"id": "503", "name": "Technician Appointment", "category": "technician", "duration": 20},
    {"id": "504", "name": "Recheck", "category": "recheck", "duration": 20},
]

ROOMS: Final[list[dict[str, Any]]] = [
    {"id": "401", "name": "Exam Room 1", "description": "Front exam room"},
    {"id": "402", "name": "Exam Room 2", "description": "Back exam room"},
    {"id": "403", "name": "Treatment Room", "description": "Technician station"},
]

PROVIDERS: Final[list[dict[str, Any]]] = [
    {
        "id": "301",
        "name": "Dr. Alice Morgan",
        "categories": ["wellness", "sick", "recheck"],
        "room_id": "401",
    },
    {
        "id": "302",
        "name": "Dr. Ben Ortiz",
        "categories": ["wellness", "sick", "recheck"],
        "room_id": "402",
    },
    {"id": "303", "name": "Casey Park, CVT", "categories": ["technician"], "room_id": "403"},
]

# Clients with their patients. Ids are numeric strings (sent as integers in POST /appointments).
CLIENTS: Final[list[dict[str, Any]]] = [
    {
        "id": "1001",
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@example.com",
        "phone": "+15555550100",
        "remote_id": "PIMS-C-1001",
        "patients": [
            {
                "id": "2001",
                "name": "Rex",
                "species": "dog",
                "breed": "Labrador Retriever",
                "remote_id": "PIMS-P-2001",
            },
            {
                "id": "2002",
                "name": "Whiskers",
                "species": "cat",
                "breed": "Domestic Shorthair",
                "remote_id": "PIMS-P-2002",
            },
        ],
    },
    {
        "id": "1002",
        "first_name": "Ana",
        "last_name": "Núñez",
        "email": "ana.nunez@example.com",
        "phone": "+15555550101",
        "remote_id": "PIMS-C-1002",
        "patients": [
            {
                "id": "2003",
                "name": "Chloé",
                "species": "dog",
                "breed": "French Bulldog",
                "remote_id": "PIMS-P-2003",
            },
        ],
    },
    {
        "id": "1003",
        "first_name": "Sam",
        "last_name": "Rivera",
        "email": "sam.rivera@example.com",
        "phone": "+15555550102",
        "remote_id": "PIMS-C-1003",
        "patients": [
            {
                "id": "2004",
                "name": "Max",
                "species": "dog",
                "breed": "Beagle",
                "remote_id": "PIMS-P-2004",
            },
            {
                "id": "2005",
                "name": "Max",
                "species": "cat",
                "breed": "Maine Coon",
                "remote_id": "PIMS-P-2005",
            },
        ],
    },
    {
        "id": "1004",
        "first_name": "Bob",
        "last_name": "Smith",
        "email": "smithfamily@example.com",
        "phone": "+15555550103",
        "remote_id": "PIMS-C-1004",
        "patients": [
            {
                "id": "2006",
                "name": "Buddy",
                "species": "dog",
                "breed": "Golden Retriever",
                "remote_id": "PIMS-P-2006",
            },
        ],
    },
    {
        "id": "1005",
        "first_name": "Carol",
        "last_name": "Smith",
        "email": "smithfamily@example.com",
        "phone": "+15555550103",
        "remote_id": "PIMS-C-1005",
        "patients": [
            {
                "id": "2007",
                "name": "Luna",
                "species": "cat",
                "breed": "Siamese",
                "remote_id": "PIMS-P-2007",
            },
        ],
    },
    {
        "id": "1006",
        "first_name": "Liam",
        "last_name": "O'Brien",
        "email": "liam.obrien@example.com",
        "phone": "+15555550104",
        "remote_id": None,
        "patients": [
            {
                "id": "2008",
                "name": "Pepper",
                "species": "rabbit",
                "breed": "Holland Lop",
                "remote_id": None,
            },
        ],
    },
    {
        "id": "1007",
        "first_name": "Emma",
        "last_name": "Chen",
        "email": "emma.chen@example.com",
        "phone": "+15555550105",
        "remote_id": "PIMS-C-1007",
        "patients": [
            {
                "id": "2009",
                "name": "Mochi",
                "species": "cat",
                "breed": "Ragdoll",
                "remote_id": "PIMS-P-2009",
            },
        ],
    },
]

# Handy names for tests.
JANE_ID: Final = "1001"
REX_ID: Final = "2001"
WHISKERS_ID: Final = "2002"
ANA_ID: Final = "1002"
CHLOE_ID: Final = "2003"
SAM_ID: Final = "1003"
FAMILY_EMAIL: Final = "smithfamily@example.com"
FAMILY_PHONE: Final = "+15555550103"
