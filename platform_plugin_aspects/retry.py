"""The one back-off rule every retry in the plugin follows (outbox entries, the ClickHouse client, live tracking)."""


def backoff_secs(attempt, first=1.0, cap=None):
    """
    Seconds to wait before retry number ``attempt`` (1, 2, 3 ...): ``first``, doubled each time, at most ``cap``.

    Doubling keeps a long outage cheap (a few attempts an hour, not thousands) while a short blip
    costs seconds; the cap bounds how late a change arrives once the outage is over.
    """
    if attempt < 1:
        return 0.0
    delay = first * 2 ** min(attempt - 1, 62)
    return delay if cap is None else min(cap, delay)
