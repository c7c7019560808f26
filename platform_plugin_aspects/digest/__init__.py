"""
The weekly course digest: one email per course, week and staff member, with the figures of the
analytics model (``content``), who gets it (``recipients``), how it looks (``message``, ``chart``),
how it is sent exactly once (``sending``) and how to stop it (``unsubscribe``, ``views``).
"""
