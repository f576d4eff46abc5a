"""Stand-in for dbt's ``exceptions`` context object, so sqlfluff's Jinja templater can render models."""


def raise_compiler_error(message: str) -> str:
    return ""
