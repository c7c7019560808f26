"""
The stand-in of the LMS's ``render_xblock`` (a block alone on a page, as the Learning MFE's unit
iframe shows it) and ``handle_xblock_callback`` (the block's handlers, CSRF-checked like the LMS
does for session users).
"""

import webob
from django.http import HttpResponse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views.decorators.csrf import ensure_csrf_cookie
from opaque_keys.edx.keys import UsageKey
from xblock.exceptions import NoSuchHandlerError

from .runtime import StandInRuntime

# Calls the block's JavaScript initializer, as the LMS's XBlock runtime does once the HTML is in.
_INIT_SCRIPT = mark_safe("""<script>
document.querySelectorAll('[data-init]').forEach(function (element) {
  window[element.dataset.init](null, element);
});
</script>""")


@ensure_csrf_cookie  # as the LMS's view: the block's script posts to its handlers with the CSRF token
def render_xblock(request, usage_id):
    """The block's student_view on a page of its own, with its fragment's CSS and scripts."""
    block = StandInRuntime(request.user).block(UsageKey.from_string(usage_id))
    fragment = block.render("student_view")
    return HttpResponse(format_html(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title>{}</head>'
        "<body>{}{}{}</body></html>",
        block.display_name, mark_safe(fragment.head_html()), mark_safe(fragment.body_html()),
        mark_safe(fragment.foot_html()), _INIT_SCRIPT,
    ))


def handle_xblock_callback(request, course_id, usage_id, handler, suffix=""):  # pylint: disable=unused-argument
    """Run the block's handler with the request (as a webob Request, like the LMS)."""
    block = StandInRuntime(request.user).block(UsageKey.from_string(usage_id))
    webob_request = webob.Request.blank(request.get_full_path(), method=request.method, body=request.body,
                                        headers={"Content-Type": request.content_type or ""})
    try:
        response = block.runtime.handle(block, handler, webob_request, suffix or "")
    except NoSuchHandlerError:
        return HttpResponse(status=404)
    return HttpResponse(response.body, status=response.status_code, content_type=response.content_type)
