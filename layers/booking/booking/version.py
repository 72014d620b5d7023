"""The release's semantic version: the one place it is written (the template's SAR metadata,
pyproject.toml and CHANGELOG.md are checked against it by the tests)."""

VERSION = "0.2.0"
