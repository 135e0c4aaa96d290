from core.roles import user_roles


def roles(request) -> dict:
    user = getattr(request, "user", None)
    found = user_roles(user) if user is not None else set()
    return {"is_agent": "agent" in found, "is_supervisor": "supervisor" in found}
