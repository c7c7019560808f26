"""
The unsubscribe page of the course digest: no login, the signed token is the credential.

GET shows what the link does and two buttons (this course / every course): mail scanners that open
links must not unsubscribe anyone by doing so. POST records the choice; a POST carrying
``List-Unsubscribe=One-Click`` (RFC 8058, what mail clients send for the List-Unsubscribe-Post
header) stops this course's digests at once. No CSRF token: the form is used without a session,
and forging a request needs the token itself.
"""

from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from ..models import DigestOptOut
from .recipients import languages
from .unsubscribe import opt_out, read_token


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def digest_unsubscribe(request, token):
    """Confirm, then stop the digests of one course (or all of them) for the token's user.

    A token that is not valid (forged, truncated, or naming no user) gets 400 and a page saying so.
    """
    claim = read_token(token)
    user = get_user_model().objects.filter(id=claim[0]).first() if claim else None
    if user is None:
        return render(request, "platform_plugin_aspects/digest_unsubscribe.html", {"invalid": True}, status=400)
    user_id, course_key = claim
    with translation.override(languages([user])[user.id]):
        done = None
        if request.method == "POST":
            every = request.POST.get("scope") == "all"
            opt_out(user_id, DigestOptOut.ALL_COURSES if every else course_key)
            done = "all" if every else "course"
        return render(request, "platform_plugin_aspects/digest_unsubscribe.html",
                      {"course_key": course_key, "done": done, "LANGUAGE_CODE": translation.get_language()})
