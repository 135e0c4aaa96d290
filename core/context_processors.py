from core.roles import AGENT, OPERATOR, SUPERVISOR, user_roles


def roles(request) -> dict:
    user = getattr(request, "user", None)
    found = user_roles(user) if user is not None else set()
    return {
        "is_agent": AGENT in found,
        "is_supervisor": SUPERVISOR in found,
        # Only those the admin lets in see its link (agents and supervisors are staff too).
        "can_use_admin": OPERATOR in found,
    }
